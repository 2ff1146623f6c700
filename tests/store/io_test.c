// io_test.c - both read backends (io_uring and the pread thread): batches
// on several tags waited for out of order, direct reads that end at the end
// of the file, and reads the file cannot satisfy (an error naming the file
// and offset, never a silent short buffer).
#include "test_util.h"

#include "store/io.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FILE_BYTES (3 * 1048576 + 10000)  // not a multiple of the page

static char path[64] = "io_test_XXXXXX";
static uint8_t *want;

static int setup(void **state) {
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    want = malloc(FILE_BYTES);
    uint64_t s = 7;
    for (size_t i = 0; i < FILE_BYTES; i++) want[i] = (uint8_t)flm_test_rand(&s);
    bool ok = write(fd, want, FILE_BYTES) == FILE_BYTES;
    close(fd);
    return ok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(want);
    return unlink(path);
}

static struct flm_io *open_io(int fd, enum flm_io_kind kind) {
    struct flm_io *io = NULL;
    struct flm_err err = {0};
    flm_status st = flm_io_open(&io, fd, path, kind, 3, 16, &err);
    if (st == FLM_ERR_UNSUPPORTED) return NULL;
    assert_int_equal(st, FLM_OK);
    assert_int_equal(flm_io_kind_of(io), kind);
    return io;
}

static void batches(enum flm_io_kind kind) {
    int fd = open(path, O_RDONLY | O_DIRECT);
    assert_true(fd >= 0);
    struct flm_io *io = open_io(fd, kind);
    if (!io) {
        close(fd);
        skip();
    }
    uint8_t *buf;
    assert_int_equal(posix_memalign((void **)&buf, 4096, 4 << 20), 0);
    memset(buf, 0xAA, 4 << 20);
    struct flm_err err = {0};
    // tag 0: two 1 MiB reads; tag 1: the last, partial page (need < len); tag 2: 4 KiB in the middle
    struct flm_io_req a[2] = {{buf, 1 << 20, 0, 1 << 20}, {buf + (1 << 20), 1 << 20, 1 << 20, 1 << 20}};
    const uint64_t tail = (FILE_BYTES / 4096) * 4096;
    struct flm_io_req b[1] = {{buf + (2 << 20), 16384, tail, FILE_BYTES - tail}};
    struct flm_io_req c[1] = {{buf + (3 << 20), 4096, 8192, 4096}};
    assert_int_equal(flm_io_submit(io, 0, a, 2, &err), FLM_OK);
    assert_int_equal(flm_io_submit(io, 1, b, 1, &err), FLM_OK);
    assert_int_equal(flm_io_submit(io, 2, c, 1, &err), FLM_OK);
    assert_int_equal(flm_io_wait(io, 2, &err), FLM_OK);
    assert_memory_equal(buf + (3 << 20), want + 8192, 4096);
    assert_int_equal(flm_io_wait(io, 1, &err), FLM_OK);
    assert_memory_equal(buf + (2 << 20), want + tail, FILE_BYTES - tail);
    assert_int_equal(flm_io_wait(io, 0, &err), FLM_OK);
    assert_memory_equal(buf, want, 2 << 20);
    assert_false(flm_io_busy(io, 0));
    // more than the file holds: an error naming the file and the offset
    struct flm_io_req d[1] = {{buf, 16384, tail, 16384}};
    assert_int_equal(flm_io_submit(io, 0, d, 1, &err), FLM_OK);
    assert_int_equal(flm_io_wait(io, 0, &err), FLM_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    char off[32];
    snprintf(off, sizeof off, "offset %llu", (unsigned long long)FILE_BYTES);  // where the file ended
    assert_non_null(strstr(err.msg, off));
    // the tag is usable again afterwards
    assert_int_equal(flm_io_submit(io, 0, c, 1, &err), FLM_OK);
    assert_int_equal(flm_io_wait(io, 0, &err), FLM_OK);
    flm_io_close(io);
    free(buf);
    close(fd);
}

static void test_posix(void **state) { (void)state; batches(FLM_IO_POSIX); }
static void test_uring(void **state) { (void)state; batches(FLM_IO_URING); }

static void test_pread(void **state) {
    (void)state;
    int fd = open(path, O_RDONLY);
    uint8_t buf[5000];
    struct flm_err err = {0};
    assert_int_equal(flm_io_pread(fd, path, buf, 5000, 5000, FILE_BYTES - 5000, &err), FLM_OK);
    assert_memory_equal(buf, want + FILE_BYTES - 5000, 5000);
    assert_int_equal(flm_io_pread(fd, path, buf, 5000, 5000, FILE_BYTES - 100, &err), FLM_ERR_IO);
    assert_non_null(strstr(err.msg, "short read"));
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_posix), cmocka_unit_test(test_uring),
                                       cmocka_unit_test(test_pread)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
