// quantize_errors_test.c - flm_quantize and `flashlm quantize` on bad input:
// an unsupported type, missing and corrupted inputs, the output being the
// input (same path, symbolic link, hard link) or a directory, destinations
// that cannot be written, a write failing half way (file size limit),
// cancellation, non-finite weights and row lengths no type fits. Each time
// the call fails with the right status and a message naming the fault, the
// input is untouched, the output keeps what it held (or stays absent) and
// no temporary file is left behind.
#include "test_util.h"

#include "convert/qmodel.h"
#include "e2e/cli_util.h"
#include "flashlm.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char in_path[320], in_sha[65];

static void at(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static int setup(void **state) {
    if (cli_setup(state)) return -1;
    at(in_path, sizeof in_path, "in.gguf");
    qm_write(&qm_smol, FLM_TYPE_F16, in_path);
    return sha256_file(in_path, in_sha);
}

static flm_status quantize(const char *in, const char *out, const char *type, struct flm_err *err) {
    struct flm_quantize_params p = flm_quantize_params_default();
    p.type = type;
    p.n_threads = 2;
    memset(err, 0, sizeof *err);
    return flm_quantize(in, out, &p, err);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

// The file holds exactly text.
static void assert_text(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s is gone", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

static void assert_absent(const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0) fail_msg("%s exists after a failed run", path);
}

// No "*.tmp" file in the test folder, and the input is unchanged.
static void assert_clean(void) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp")) fail_msg("temporary file %s left behind", e->d_name);
    }
    closedir(d);
    char sha[65];
    assert_int_equal(sha256_file(in_path, sha), 0);
    assert_string_equal(sha, in_sha);
}

static void expect(flm_status want, const struct flm_err *err, flm_status got, const char *part) {
    if (got != want) fail_msg("status %d (%s), expected %d", got, err->msg, want);
    if (!strstr(err->msg, part)) fail_msg("message '%s' does not mention '%s'", err->msg, part);
}

// ---------------------------------------------------------------- library

static void test_unsupported_type(void **state) {
    char out[320];
    struct flm_err err;
    at(out, sizeof out, "out.gguf");
    static const char *const bad[] = {"Q4_K_X", "IQ2_XXS", "q8_1", "", "Q2_K_S", "MXFP4_MOE"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect(FLM_ERR_UNSUPPORTED, &err, quantize(in_path, out, bad[i], &err), "unknown target type");
        assert_absent(out);
    }
    expect(FLM_ERR_UNSUPPORTED, &err, quantize(in_path, out, NULL, &err), "(null)");
    assert_int_equal(quantize(in_path, out, "q4_k", &err), FLM_OK);  // names are case-insensitive
    unlink(out);
    assert_clean();
}

static void test_missing_input(void **state) {
    char in[320], out[320];
    struct flm_err err;
    at(in, sizeof in, "nope.gguf");
    at(out, sizeof out, "out.gguf");
    expect(FLM_ERR_IO, &err, quantize(in, out, "Q8_0", &err), "nope.gguf");
    assert_absent(out);
    expect(FLM_ERR_IO, &err, quantize(tmpdir, out, "Q8_0", &err), tmpdir);  // a directory as input
    assert_absent(out);
    assert_clean();
}

// Copies the input with its bytes changed by fn.
static void corrupt_copy(const char *dst, void (*fn)(uint8_t *, size_t *)) {
    FILE *f = fopen(in_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    fn(b, &n);
    f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

static void truncate_half(uint8_t *b, size_t *n) { *n /= 2; }
static void bad_magic(uint8_t *b, size_t *n) { b[0] = 'X'; }
static void huge_kv_count(uint8_t *b, size_t *n) { memset(b + 16, 0x7f, 8); }
static void bad_version(uint8_t *b, size_t *n) { b[4] = 9; }

static void test_corrupted_input(void **state) {
    char bad[320], out[320];
    struct flm_err err;
    at(bad, sizeof bad, "bad.gguf");
    at(out, sizeof out, "out.gguf");
    void (*fns[])(uint8_t *, size_t *) = {truncate_half, bad_magic, huge_kv_count, bad_version};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        corrupt_copy(bad, fns[i]);
        write_text(out, "old model");
        expect(FLM_ERR_FORMAT, &err, quantize(bad, out, "Q4_K_M", &err), "bad.gguf");
        assert_text(out, "old model");  // an existing output is not touched
    }
    unlink(out);
    assert_clean();
}

static void test_output_is_input(void **state) {
    char sym[320], hard[320];
    struct flm_err err;
    at(sym, sizeof sym, "sym.gguf");
    at(hard, sizeof hard, "hard.gguf");
    assert_int_equal(symlink(in_path, sym), 0);
    assert_int_equal(link(in_path, hard), 0);
    expect(FLM_ERR_INVALID, &err, quantize(in_path, in_path, "Q8_0", &err), "is the input file");
    expect(FLM_ERR_INVALID, &err, quantize(in_path, sym, "Q8_0", &err), "is the input file");
    expect(FLM_ERR_INVALID, &err, quantize(in_path, hard, "Q8_0", &err), "is the input file");
    expect(FLM_ERR_INVALID, &err, quantize(sym, in_path, "Q8_0", &err), "is the input file");
    char rel[400];  // another spelling of the same path
    snprintf(rel, sizeof rel, "%s/../%s/in.gguf", tmpdir, strrchr(tmpdir, '/') + 1);
    expect(FLM_ERR_INVALID, &err, quantize(in_path, rel, "Q8_0", &err), "is the input file");
    unlink(sym);
    unlink(hard);
    assert_clean();
}

static void test_output_is_directory(void **state) {
    struct flm_err err;
    expect(FLM_ERR_INVALID, &err, quantize(in_path, tmpdir, "Q8_0", &err), "is a directory");
    expect(FLM_ERR_INVALID, &err, quantize(in_path, "/dev/null", "Q8_0", &err), "not a regular file");
    assert_clean();
}

static void test_unwritable_destination(void **state) {
    char out[400];
    struct flm_err err;
    snprintf(out, sizeof out, "%s/no/such/dir/out.gguf", tmpdir);
    expect(FLM_ERR_IO, &err, quantize(in_path, out, "Q8_0", &err), "cannot create a temporary file");
    assert_absent(out);
    snprintf(out, sizeof out, "%s/out.gguf", in_path);  // a folder that is a file
    expect(FLM_ERR_IO, &err, quantize(in_path, out, "Q8_0", &err), "Not a directory");
    if (geteuid() != 0) {  // root writes anywhere
        char ro[320];
        at(ro, sizeof ro, "ro");
        assert_int_equal(mkdir(ro, 0500), 0);
        snprintf(out, sizeof out, "%s/out.gguf", ro);
        expect(FLM_ERR_IO, &err, quantize(in_path, out, "Q8_0", &err), "Permission denied");
        assert_absent(out);
        rmdir(ro);
    }
    assert_clean();
}

// A write that fails half way (the file size limit, as a full disk would).
static void test_write_fails_half_way(void **state) {
    char out[320];
    at(out, sizeof out, "out.gguf");
    write_text(out, "old model");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {256 << 10, 256 << 10};
        setrlimit(RLIMIT_FSIZE, &rl);
        struct flm_err err;
        flm_status st = quantize(in_path, out, "Q8_0", &err);
        _exit(st == FLM_ERR_IO && strstr(err.msg, "write failed") ? 0 : 1);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_text(out, "old model");
    unlink(out);
    assert_clean();
}

static bool cancel_after(void *user, int64_t i, int64_t n, uint64_t done, uint64_t total) {
    int *calls = user;
    assert_true(i >= 0 && i < n && done <= total);
    return ++*calls < 10;
}

static void test_cancel(void **state) {
    char out[320];
    at(out, sizeof out, "out.gguf");
    struct flm_quantize_params p = flm_quantize_params_default();
    int calls = 0;
    p.type = "Q4_K_M";
    p.on_progress = cancel_after;
    p.user = &calls;
    struct flm_err err;
    assert_int_equal(flm_quantize(in_path, out, &p, &err), FLM_ERR_CANCELLED);
    assert_int_equal(calls, 10);
    assert_absent(out);
    write_text(out, "old model");
    calls = 0;
    assert_int_equal(flm_quantize(in_path, out, &p, &err), FLM_ERR_CANCELLED);
    assert_text(out, "old model");
    unlink(out);
    assert_clean();
}

// A model whose tensor 'bad.weight' holds rows of length ne0 with value v.
static void write_odd_model(const char *path, int64_t ne0, float v) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    flm_gguf_writer_kv_str(w, "general.architecture", "llama");
    flm_gguf_writer_kv_u32(w, "llama.block_count", 1);
    const int64_t ne[2] = {ne0, 4};
    float x[4 * 512];
    for (int i = 0; i < 4 * ne0; i++) x[i] = 0.01f * (float)(i % 17);
    x[2 * ne0 + 3] = v;
    assert_int_equal(flm_gguf_writer_tensor(w, "bad.weight", FLM_TYPE_F32, 2, ne, x, sizeof(float) * 4 * ne0), FLM_OK);
    struct flm_err err;
    assert_int_equal(flm_gguf_writer_to_file(w, path, &err), FLM_OK);
    flm_gguf_writer_free(w);
}

static void test_non_finite_weights(void **state) {
    char bad[320], out[320];
    struct flm_err err;
    at(bad, sizeof bad, "nan.gguf");
    at(out, sizeof out, "out.gguf");
    write_odd_model(bad, 256, NAN);
    expect(FLM_ERR_FORMAT, &err, quantize(bad, out, "Q4_K_M", &err), "tensor 'bad.weight' (f32) row 2");
    write_odd_model(bad, 256, INFINITY);
    expect(FLM_ERR_FORMAT, &err, quantize(bad, out, "F32", &err), "non-finite");  // even when only copied
    write_odd_model(bad, 256, 1e9f);  // finite, but the Q8_0 scale overflows f16
    expect(FLM_ERR_FORMAT, &err, quantize(bad, out, "Q8_0", &err), "row 2 gives a non-finite value or scale as q8_0");
    write_odd_model(bad, 256, 1e6f);
    expect(FLM_ERR_FORMAT, &err, quantize(bad, out, "F16", &err), "as f16");
    assert_absent(out);
    unlink(bad);
    assert_clean();
}

static void test_row_length_without_type(void **state) {
    char bad[320], out[320];
    struct flm_err err;
    at(bad, sizeof bad, "odd.gguf");
    at(out, sizeof out, "out.gguf");
    write_odd_model(bad, 48, 1.0f);
    expect(FLM_ERR_UNSUPPORTED, &err, quantize(bad, out, "Q4_0", &err), "row length 48 is not a multiple of 32");
    assert_absent(out);
    assert_int_equal(quantize(bad, out, "Q4_K_M", &err), FLM_OK);  // K-quants fall back to F16
    struct flm_gguf *g;
    assert_int_equal(flm_gguf_open(&g, out, 0, &err), FLM_OK);
    assert_int_equal(flm_gguf_find_tensor(g, "bad.weight")->type, FLM_TYPE_F16);
    flm_gguf_close(g);
    unlink(out);
    unlink(bad);
    assert_clean();
}

// ---------------------------------------------------------------- the tool

// Runs the tool; its exit status must be want and stdout or stderr hold part.
static void cli_fails(int want, const char *args, const char *part) {
    char *out, *msg;
    int rc = run_cli_io(args, NULL, &out, &msg);
    if (rc != want || (!strstr(msg, part) && !strstr(out, part)))
        fail_msg("flashlm %s: exit %d (expected %d), stderr: %.400s (expected '%s')", args, rc, want, msg, part);
    free(out);
    free(msg);
}

static void test_cli(void **state) {
    char args[1200], out[320], bad[320];
    at(out, sizeof out, "cli.gguf");
    at(bad, sizeof bad, "cli_bad.gguf");
    cli_fails(0, "quantize --help", "Q4_K_M");
    cli_fails(0, "help quantize", "--type");
    snprintf(args, sizeof args, "quantize %s %s --type Q9_9", in_path, out);
    cli_fails(2, args, "unsupported target type 'Q9_9'");
    snprintf(args, sizeof args, "quantize %s %s", in_path, out);
    cli_fails(2, args, "needs a target type");
    snprintf(args, sizeof args, "quantize %s --type Q8_0", in_path);
    cli_fails(2, args, "needs IN and OUT");
    snprintf(args, sizeof args, "quantize %s %s Q8_0 --type Q4_0", in_path, out);
    cli_fails(2, args, "given twice");
    snprintf(args, sizeof args, "quantize %s %s Q8_0 -t 0", in_path, out);
    cli_fails(2, args, "invalid thread count");
    snprintf(args, sizeof args, "quantize %s %s --type Q8_0", in_path, in_path);
    cli_fails(1, args, "is the input file");
    corrupt_copy(bad, truncate_half);
    snprintf(args, sizeof args, "quantize %s %s --type Q8_0", bad, out);
    cli_fails(1, args, "cli_bad.gguf");
    assert_absent(out);
    snprintf(args, sizeof args, "quantize %s %s/none/x.gguf -T Q8_0", in_path, tmpdir);
    cli_fails(1, args, "cannot create a temporary file");
    snprintf(args, sizeof args, "quantize %s %s q5_1 -t 2", in_path, out);
    cli_fails(0, args, "wrote");
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, out, 0, &err), FLM_OK);
    assert_int_equal(flm_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, FLM_TYPE_Q5_1);
    flm_gguf_close(g);
    unlink(out);
    unlink(bad);
    assert_clean();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_missing_input),
        cmocka_unit_test(test_corrupted_input),
        cmocka_unit_test(test_output_is_input),
        cmocka_unit_test(test_output_is_directory),
        cmocka_unit_test(test_unwritable_destination),
        cmocka_unit_test(test_write_fails_half_way),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_non_finite_weights),
        cmocka_unit_test(test_row_length_without_type),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
