// outfile_test.c - all-or-nothing output files (convert/outfile.c): a
// committed file replaces the destination whole, with the default
// permissions; an aborted one leaves the destination as it was and no
// temporary file; a destination in a missing folder fails at open.
#include "test_util.h"

#include "convert/outfile.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static char dir[256];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/flm_outfile_test_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int n_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void read_back(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_commit_replaces(void **state) {
    char dest[320], buf[64];
    snprintf(dest, sizeof dest, "%s/a.bin", dir);
    FILE *f = fopen(dest, "w");
    fputs("old", f);
    fclose(f);
    struct flm_outfile *o;
    struct flm_err err;
    assert_int_equal(flm_outfile_open(&o, dest, &err), FLM_OK);
    assert_int_equal(n_entries(), 2);  // the destination and the temporary file
    assert_int_equal(flm_outfile_write(o, "new", 3, &err), FLM_OK);
    assert_int_equal(flm_outfile_write(o, NULL, 5000, &err), FLM_OK);  // zeros
    assert_int_equal(flm_outfile_size(o), 5003);
    read_back(dest, buf, sizeof buf);
    assert_string_equal(buf, "old");  // untouched until the commit
    assert_int_equal(flm_outfile_commit(o, &err), FLM_OK);
    struct stat st;
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_size, 5003);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0666 & ~mask);
    read_back(dest, buf, sizeof buf);
    assert_string_equal(buf, "new");
    assert_int_equal(n_entries(), 1);
    unlink(dest);
}

static void test_abort_leaves_nothing(void **state) {
    char dest[320];
    snprintf(dest, sizeof dest, "%s/b.bin", dir);
    struct flm_outfile *o;
    struct flm_err err;
    assert_int_equal(flm_outfile_open(&o, dest, &err), FLM_OK);
    assert_int_equal(flm_outfile_write(o, "partial", 7, &err), FLM_OK);
    flm_outfile_abort(o);
    flm_outfile_abort(NULL);
    assert_int_equal(n_entries(), 0);
}

static void test_missing_folder(void **state) {
    char dest[320];
    snprintf(dest, sizeof dest, "%s/missing/c.bin", dir);
    struct flm_outfile *o = (struct flm_outfile *)1;
    struct flm_err err;
    assert_int_equal(flm_outfile_open(&o, dest, &err), FLM_ERR_IO);
    assert_null(o);
    assert_non_null(strstr(err.msg, "No such file or directory"));
    assert_non_null(strstr(err.msg, "/missing"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_replaces),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_missing_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
