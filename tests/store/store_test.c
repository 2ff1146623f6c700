// store_test.c - the weight store on small generated GGUF files: resident
// views without a budget; with one, the residency choice, pinned and
// streamed bytes equal to the file's, the sliding prefetch window, an LM
// head cut into row ranges, on-demand rows (the last one ends the file),
// both read backends, budgets too small, and files changed while in use.
#include "test_util.h"

#include "format/gguf.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COLS   256   // f32: 1 KiB rows
#define LAYERS 6
#define ATTN_ROWS 8
#define FFN_ROWS  300
#define HEAD_ROWS 2000
#define EMBD_ROWS 777

static char dir[256], path[300];

struct fixture {
    struct flm_gguf  *g;
    struct flm_store *s;
    int               id_norm[LAYERS], id_attn[LAYERS], id_ffn[LAYERS], id_head, id_embd;
};

// Every float of the file is its tensor's index * 1e6 + its element index,
// so any misplaced byte shows.
static float value(int tensor, int64_t i) { return (float)tensor * 1e6f + (float)i; }

static void write_model(const char *p, bool embd_last) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    int k = 0;
    char nm[64];
    float *buf = malloc(sizeof(float) * COLS * HEAD_ROWS);
    struct { const char *fmt; int rows; int dims; } kinds[] = {
        {"blk.%d.norm", 1, 1}, {"blk.%d.attn", ATTN_ROWS, 2}, {"blk.%d.ffn", FFN_ROWS, 2}};
    if (!embd_last) {
        for (int64_t i = 0; i < (int64_t)COLS * EMBD_ROWS; i++) buf[i] = value(100, i);
        int64_t ne[2] = {COLS, EMBD_ROWS};
        assert_int_equal(flm_gguf_writer_tensor(w, "embd", FLM_TYPE_F32, 2, ne, buf, sizeof(float) * COLS * EMBD_ROWS), FLM_OK);
    }
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < 3; j++, k++) {
            snprintf(nm, sizeof nm, kinds[j].fmt, l);
            const int64_t n = (int64_t)COLS * kinds[j].rows;
            for (int64_t i = 0; i < n; i++) buf[i] = value(l * 3 + j, i);
            int64_t ne[2] = {COLS, kinds[j].rows};
            assert_int_equal(flm_gguf_writer_tensor(w, nm, FLM_TYPE_F32, (uint32_t)kinds[j].dims, ne, buf,
                                                    sizeof(float) * (size_t)n), FLM_OK);
        }
    for (int64_t i = 0; i < (int64_t)COLS * HEAD_ROWS; i++) buf[i] = value(99, i);
    int64_t ne[2] = {COLS, HEAD_ROWS};
    assert_int_equal(flm_gguf_writer_tensor(w, "head", FLM_TYPE_F32, 2, ne, buf, sizeof(float) * COLS * HEAD_ROWS), FLM_OK);
    if (embd_last) {  // its last row ends the file: a direct read of it comes back short
        for (int64_t i = 0; i < (int64_t)COLS * EMBD_ROWS; i++) buf[i] = value(100, i);
        int64_t ne2[2] = {COLS, EMBD_ROWS};
        assert_int_equal(flm_gguf_writer_tensor(w, "embd", FLM_TYPE_F32, 2, ne2, buf, sizeof(float) * COLS * EMBD_ROWS), FLM_OK);
    }
    free(buf);
    struct flm_err err = {0};
    assert_int_equal(flm_gguf_writer_to_file(w, p, &err), FLM_OK);
    flm_gguf_writer_free(w);
}

static const struct flm_gguf_tensor *T(struct flm_gguf *g, const char *name) {
    const struct flm_gguf_tensor *t = flm_gguf_find_tensor(g, name);
    assert_non_null(t);
    return t;
}

static flm_status open_fx(struct fixture *f, uint64_t budget, enum flm_io_kind io, int min_slots, int max_slots,
                          size_t head_chunk, struct flm_err *err) {
    memset(f, 0, sizeof *f);
    flm_status st = flm_gguf_open(&f->g, path, budget ? FLM_GGUF_OPEN_HEADER : 0, err);
    if (st) return st;
    struct flm_store_params p = {.budget = budget, .io = io, .min_slots = min_slots, .max_slots = max_slots,
                                 .head_chunk = head_chunk};
    assert_int_equal(flm_store_open(&f->s, f->g, &p, err), FLM_OK);
    char nm[64];
    for (int l = 0; l < LAYERS; l++) {
        snprintf(nm, sizeof nm, "blk.%d.norm", l);
        f->id_norm[l] = flm_store_add(f->s, T(f->g, nm), l, FLM_STORE_NORM, 1, COLS * 4, 1);
        snprintf(nm, sizeof nm, "blk.%d.attn", l);
        f->id_attn[l] = flm_store_add(f->s, T(f->g, nm), l, FLM_STORE_ATTN, ATTN_ROWS, COLS * 4, 1);
        snprintf(nm, sizeof nm, "blk.%d.ffn", l);
        f->id_ffn[l] = flm_store_add(f->s, T(f->g, nm), l, FLM_STORE_FFN, FFN_ROWS, COLS * 4, 1);
    }
    f->id_embd = flm_store_add(f->s, T(f->g, "embd"), -1, FLM_STORE_EMBD, EMBD_ROWS, COLS * 4, 1);
    f->id_head = flm_store_add(f->s, T(f->g, "head"), LAYERS, FLM_STORE_HEAD, HEAD_ROWS, COLS * 4, 8);
    struct flm_budget b = {.limit = budget};
    return flm_store_commit(f->s, &b, err);
}

static void close_fx(struct fixture *f) {
    flm_store_close(f->s);
    flm_gguf_close(f->g);
}

static void check_rows(const void *p, int tensor, int64_t r0, int64_t n) {
    const float *x = p;
    for (int64_t i = 0; i < n * COLS; i += 97) assert_true(x[i] == value(tensor, r0 * COLS + i));
    assert_true(x[n * COLS - 1] == value(tensor, (r0 + n) * COLS - 1));
}

// One forward-like pass: every layer, then the head's parts.
static void pass(struct fixture *f) {
    struct flm_err err = {0};
    for (int l = 0; l < LAYERS; l++) {
        assert_int_equal(flm_store_acquire(f->s, l, 0, &err), FLM_OK);
        int64_t r0, n;
        check_rows(flm_store_view(f->s, f->id_norm[l], 0, &r0, &n), l * 3, 0, 1);
        check_rows(flm_store_view(f->s, f->id_attn[l], 0, &r0, &n), l * 3 + 1, 0, ATTN_ROWS);
        check_rows(flm_store_view(f->s, f->id_ffn[l], 0, &r0, &n), l * 3 + 2, 0, FFN_ROWS);
        flm_store_release(f->s, l, 0);
    }
    int64_t covered = 0;
    for (int p = 0; p < flm_store_n_parts(f->s, f->id_head); p++) {
        assert_int_equal(flm_store_acquire(f->s, LAYERS, p, &err), FLM_OK);
        int64_t r0, n;
        const void *d = flm_store_view(f->s, f->id_head, p, &r0, &n);
        assert_int_equal(r0, covered);
        if (flm_store_n_parts(f->s, f->id_head) > 1) assert_int_equal(n % 8 == 0 || r0 + n == HEAD_ROWS, 1);
        check_rows(d, 99, r0, n);
        covered += n;
        flm_store_release(f->s, LAYERS, p);
    }
    assert_int_equal(covered, HEAD_ROWS);
    for (int r = 0; r < EMBD_ROWS; r += 111) check_rows(flm_store_row(f->s, f->id_embd, r, &err), 100, r, 1);
    const void *last = flm_store_row(f->s, f->id_embd, EMBD_ROWS - 1, &err);
    assert_non_null(last);
    check_rows(last, 100, EMBD_ROWS - 1, 1);
}

// Smallest budget (64 KiB steps) that commits: only norms pinned.
static uint64_t minimum(enum flm_io_kind io, int min_slots, size_t head_chunk) {
    for (uint64_t b = 64 << 10;; b += 64 << 10) {
        struct fixture f;
        struct flm_err err = {0};
        flm_status st = open_fx(&f, b, io, min_slots, min_slots, head_chunk, &err);
        close_fx(&f);
        if (st == FLM_OK) return b;
        assert_int_equal(st, FLM_ERR_NOMEM);
        assert_non_null(strstr(err.msg, "needs at minimum"));
    }
}

// ---------------------------------------------------------------- tests

static void test_resident(void **state) {
    (void)state;
    write_model(path, false);
    struct fixture f;
    struct flm_err err = {0};
    assert_int_equal(open_fx(&f, 0, FLM_IO_AUTO, 0, 0, 0, &err), FLM_OK);
    for (int l = 0; l < LAYERS; l++) {
        assert_false(flm_store_group_streams(f.s, l));
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.ffn", l);
        assert_ptr_equal(flm_store_resident(f.s, f.id_ffn[l]), T(f.g, nm)->data);  // the mapping itself
    }
    pass(&f);
    struct flm_model_io io;
    flm_store_get_io(f.s, &io);
    assert_int_equal(io.bytes_read, 0);
    close_fx(&f);
}

static void streamed(enum flm_io_kind kind) {
    write_model(path, true);
    const uint64_t least = minimum(kind, 2, 64 << 10);
    struct fixture f;
    struct flm_err err = {0};
    assert_int_equal(open_fx(&f, least, kind, 2, 2, 64 << 10, &err), FLM_OK);
    struct flm_model_io io;
    flm_store_get_io(f.s, &io);
    assert_int_equal(io.io, kind);
    assert_true(io.direct);
    assert_int_equal(io.pool_slots, 2);
    for (int l = 0; l < LAYERS; l++) assert_true(flm_store_group_streams(f.s, l));
    assert_true(flm_store_n_parts(f.s, f.id_head) > 1);  // 2000 KiB cut into parts of whole 8-row groups
    for (int k = 0; k < 3; k++) pass(&f);
    flm_store_get_io(f.s, &io);
    assert_true(io.bytes_read >= 3 * (uint64_t)(LAYERS * (ATTN_ROWS + FFN_ROWS) + HEAD_ROWS) * COLS * 4);
    close_fx(&f);
    // more budget: attention pinned first, then the head, then FFN layers
    assert_int_equal(open_fx(&f, least + (LAYERS * ATTN_ROWS + 16) * 4096, kind, 2, 2, 64 << 10, &err), FLM_OK);
    for (int l = 0; l < LAYERS; l++) {
        assert_non_null(flm_store_resident(f.s, f.id_attn[l]));
        assert_null(flm_store_resident(f.s, f.id_ffn[l]));
    }
    pass(&f);
    close_fx(&f);
    assert_int_equal(open_fx(&f, 64 << 20, kind, 2, 2, 64 << 10, &err), FLM_OK);  // everything fits
    for (int l = 0; l < LAYERS; l++) assert_false(flm_store_group_streams(f.s, l));
    assert_null(flm_store_resident(f.s, f.id_embd));  // rows on demand, never the whole table
    pass(&f);
    close_fx(&f);
}

static void test_streamed_posix(void **state) { (void)state; streamed(FLM_IO_POSIX); }
static void test_streamed_uring(void **state) {
    (void)state;
    struct flm_err err = {0};
    write_model(path, true);
    struct fixture f;
    if (open_fx(&f, 64 << 20, FLM_IO_URING, 2, 2, 0, &err) == FLM_ERR_UNSUPPORTED) {
        close_fx(&f);
        skip();
    }
    close_fx(&f);
    streamed(FLM_IO_URING);
}

// With K buffers, acquiring unit u has units u..u+K-1 read (or reading);
// releasing u queues u+K into the freed buffer.
static void test_window(void **state) {
    (void)state;
    write_model(path, false);
    const uint64_t least = minimum(FLM_IO_POSIX, 3, 64 << 10);
    struct fixture f;
    struct flm_err err = {0};
    assert_int_equal(open_fx(&f, least, FLM_IO_POSIX, 3, 3, 64 << 10, &err), FLM_OK);
    struct flm_model_io a, b;
    flm_store_get_io(f.s, &a);
    assert_int_equal(a.pool_slots, 3);
    // a unit: the layer's FFN (its attention may have been pinned in the slack), plus page rounding
    const uint64_t lo = (uint64_t)FFN_ROWS * COLS * 4, hi = (uint64_t)(ATTN_ROWS + FFN_ROWS) * COLS * 4 + 4 * 4096;
    assert_int_equal(flm_store_acquire(f.s, 0, 0, &err), FLM_OK);
    flm_store_get_io(f.s, &b);
    assert_true(b.bytes_read - a.bytes_read >= 3 * lo && b.bytes_read - a.bytes_read <= 3 * hi);  // units 0, 1, 2
    flm_store_release(f.s, 0, 0);
    flm_store_get_io(f.s, &a);
    assert_true(a.bytes_read - b.bytes_read >= lo && a.bytes_read - b.bytes_read <= hi);  // unit 3
    assert_int_equal(flm_store_acquire(f.s, 1, 0, &err), FLM_OK);  // already there: no read
    flm_store_get_io(f.s, &b);
    assert_int_equal(b.bytes_read, a.bytes_read);
    flm_store_release(f.s, 1, 0);
    // out of order (a second context starting over): still the right bytes
    assert_int_equal(flm_store_acquire(f.s, 5, 0, &err), FLM_OK);
    int64_t r0, n;
    check_rows(flm_store_view(f.s, f.id_ffn[5], 0, &r0, &n), 5 * 3 + 2, 0, FFN_ROWS);
    flm_store_release(f.s, 5, 0);
    pass(&f);
    close_fx(&f);
}

static void test_too_small(void **state) {
    (void)state;
    write_model(path, false);
    struct fixture f;
    struct flm_err err = {0};
    assert_int_equal(open_fx(&f, 100 << 10, FLM_IO_AUTO, 0, 0, 0, &err), FLM_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "memory budget 0.1 MiB is below the"));
    assert_non_null(strstr(err.msg, "stream buffers (2 x"));
    close_fx(&f);
}

// The file cut, rewritten or replaced while in use: an I/O error, never
// other bytes.
static void changed(int how) {
    write_model(path, false);
    struct fixture f;
    struct flm_err err = {0};
    assert_int_equal(open_fx(&f, minimum(FLM_IO_AUTO, 2, 64 << 10), FLM_IO_AUTO, 2, 2, 64 << 10, &err), FLM_OK);
    pass(&f);
    char other[320];
    snprintf(other, sizeof other, "%s.new", path);
    if (how == 0) assert_int_equal(truncate(path, 100000), 0);
    if (how == 1) {  // same size, new contents (and mtime)
        usleep(20000);
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        fseek(fp, 200000, SEEK_SET);
        fputs("overwritten", fp);
        fclose(fp);
    }
    if (how == 2) {
        write_model(other, false);
        assert_int_equal(rename(other, path), 0);
    }
    flm_status st = FLM_OK;
    for (int l = 0; l < LAYERS && st == FLM_OK; l++) {  // units already read stay valid
        st = flm_store_acquire(f.s, l, 0, &err);
        if (st == FLM_OK) flm_store_release(f.s, l, 0);
    }
    for (int p = 0; st == FLM_OK && p < flm_store_n_parts(f.s, f.id_head); p++) {
        st = flm_store_acquire(f.s, LAYERS, p, &err);
        if (st == FLM_OK) flm_store_release(f.s, LAYERS, p);
    }
    assert_int_equal(st, FLM_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, how == 2 ? "replaced" : "changed while in use"));
    assert_null(flm_store_row(f.s, f.id_embd, 3, &err));
    close_fx(&f);
}

static void test_truncated(void **state) { (void)state; changed(0); }
static void test_rewritten(void **state) { (void)state; changed(1); }
static void test_replaced(void **state) { (void)state; changed(2); }

static int setup(void **state) {
    (void)state;
    // in the build folder: a disk file system (O_DIRECT), where /tmp may be tmpfs
    snprintf(dir, sizeof dir, "store_test_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resident),     cmocka_unit_test(test_streamed_posix), cmocka_unit_test(test_streamed_uring),
        cmocka_unit_test(test_window),       cmocka_unit_test(test_too_small),      cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_rewritten),    cmocka_unit_test(test_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
