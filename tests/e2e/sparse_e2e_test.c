// sparse_e2e_test.c - flashlm calibrate and --sparsity on SmolLM2: the
// calibrated file loads and gives the very logits of the original when
// dense; a sparse context skips about its level of FFN neurons and still
// predicts sensibly; on a held-out text (GPL-3) the skipped fraction is
// within a few points of the level, for the default method (chess-cond)
// and for global (layers skip different fractions, the whole the level);
// bad input gets a clean error and leaves no temporary file
// behind.
#include "e2e/cli_util.h"

#include "flashlm.h"
#include "format/gguf.h"
#include "sparse/sparse.h"

#include <dirent.h>
#include <math.h>

#define SMOL "SmolLM2-135M-Instruct.Q4_1.gguf"
#define CAL_TEXT "/usr/share/common-licenses/GPL-2"

static char calibrated[320];

static int n_tmp_files(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_calibrate_cli(void **state) {
    (void)state;
    const char *m = flm_test_model(SMOL);
    if (!m) skip();
    char args[1024], *msg, *out;
    snprintf(calibrated, sizeof calibrated, "%s/cal.gguf", tmpdir);
    const int n_tok = getenv("FLM_SANITIZED") ? 64 : 384;  // sanitized builds are ~20x slower
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s --tokens %d -c %d --levels 30,50", m, CAL_TEXT,
             calibrated, n_tok, n_tok / 3);
    int rc = run_cli_io(args, NULL, &out, &msg);
    if (rc != 0) fail_msg("calibrate failed (%d): %s", rc, msg);
    assert_non_null(strstr(out, "chess-cond thresholds"));
    assert_non_null(strstr(out, "30% 50%"));
    char want[32];
    snprintf(want, sizeof want, "%d tokens", n_tok);
    assert_non_null(strstr(out, want));
    free(out), free(msg);
    assert_int_equal(n_tmp_files(), 0);
    // every layer's thresholds, and monotone in the level
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, calibrated, 0, &err), FLM_OK);
    struct flm_sparse_levels lv;
    assert_int_equal(flm_sparse_levels_load(&lv, g, &err), FLM_OK);
    assert_int_equal(lv.n_levels, 2);
    for (int il = 0; il < 30; il++) {
        const float *t;
        assert_int_equal(flm_sparse_layer_load(g, il, 1536, 2, &t, &err), FLM_OK);
        for (int i = 0; i < 1536; i++) assert_true(t[1536 + i] >= t[i]);
    }
    struct flm_gguf_str method;
    assert_int_equal(flm_gguf_get_str(g, FLM_SPARSE_KEY_METHOD, &method, &err), FLM_OK);
    assert_int_equal(method.len, 10);
    assert_memory_equal(method.ptr, "chess-cond", 10);
    flm_gguf_close(g);
}

static size_t info_vocab(const struct flm_model *m) {
    struct flm_model_info mi;
    flm_model_get_info(m, &mi);
    return (size_t)mi.n_vocab;
}

static flm_status eval_prompt(const char *path, float sparsity, float *logits, struct flm_sparse_stats *st) {
    struct flm_err err = {0};
    struct flm_model *m;
    struct flm_context *c;
    flm_status s = flm_model_open(&m, path, NULL, &err);
    if (s) fail_msg("%s", err.msg);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 256;
    cp.sparsity = sparsity;
    if ((s = flm_context_init(&c, m, &cp, &err))) {
        flm_model_free(m);
        return s;
    }
    const char *text = "The GNU General Public License is a free, copyleft license for software and other kinds of works.";
    int32_t toks[64], n;
    assert_int_equal(flm_tokenize(m, text, strlen(text), true, false, toks, 64, &n, &err), FLM_OK);
    assert_int_equal(flm_eval(c, toks, n - 1, false, &err), FLM_OK);
    assert_int_equal(flm_eval(c, toks + n - 1, 1, false, &err), FLM_OK);  // one token: the decode path
    memcpy(logits, flm_get_logits(c, -1), sizeof(float) * (size_t)info_vocab(m));
    flm_context_sparse_stats(c, st);
    flm_context_free(c);
    flm_model_free(m);
    return FLM_OK;
}

static void test_dense_identical_sparse_sane(void **state) {
    (void)state;
    const char *m = flm_test_model(SMOL);
    if (!m || !calibrated[0]) skip();
    const size_t nv = 49152;
    float *a = malloc(nv * sizeof(float)), *b = malloc(nv * sizeof(float)), *s = malloc(nv * sizeof(float));
    struct flm_sparse_stats st;
    assert_int_equal(eval_prompt(m, 0, a, &st), FLM_OK);
    assert_int_equal(st.n_neurons, 0);
    assert_int_equal(eval_prompt(calibrated, 0, b, &st), FLM_OK);
    assert_memory_equal(a, b, nv * sizeof(float));  // dense: the same bits
    assert_int_equal(eval_prompt(calibrated, 50, s, &st), FLM_OK);
    const double skipped = 1.0 - (double)st.n_live / (double)st.n_neurons;
    if (skipped < 0.3 || skipped > 0.7) fail_msg("50%% level skipped %.3f of neurons", skipped);
    assert_true(st.bytes_sparse < st.bytes_dense && st.bytes_bundled < st.bytes_dense);
    size_t top_a = 0, top_s = 0;
    for (size_t i = 0; i < nv; i++) {
        assert_true(isfinite(s[i]));
        top_a = a[i] > a[top_a] ? i : top_a;
        top_s = s[i] > s[top_s] ? i : top_s;
    }
    double dot = 0, na = 0, ns = 0;
    for (size_t i = 0; i < nv; i++) dot += (double)a[i] * s[i], na += (double)a[i] * a[i], ns += (double)s[i] * s[i];
    if (dot / sqrt(na * ns) < 0.9) fail_msg("sparse logits too far from dense: cosine %.3f", dot / sqrt(na * ns));
    free(a), free(b), free(s);
}

// convert --bundle of the calibrated file: dense logits still the original's;
// sparse ones close to the unbundled sparse ones (only the down columns were
// requantized, to q8_0); reads counted per bundle.
static void test_bundle(void **state) {
    (void)state;
    const char *m = flm_test_model(SMOL);
    if (!m || !calibrated[0]) skip();
    char args[1024], bundled[320], *msg, *out;
    snprintf(bundled, sizeof bundled, "%s/bundled.gguf", tmpdir);
    snprintf(args, sizeof args, "convert --bundle %s %s", calibrated, bundled);
    int rc = run_cli_io(args, NULL, &out, &msg);
    if (rc != 0) fail_msg("convert failed (%d): %s", rc, msg);
    free(out), free(msg);
    const size_t nv = 49152;
    float *a = malloc(nv * sizeof(float)), *b = malloc(nv * sizeof(float));
    float *s1 = malloc(nv * sizeof(float)), *s2 = malloc(nv * sizeof(float));
    struct flm_sparse_stats st1, st2;
    assert_int_equal(eval_prompt(m, 0, a, &st1), FLM_OK);
    assert_int_equal(eval_prompt(bundled, 0, b, &st1), FLM_OK);
    assert_memory_equal(a, b, nv * sizeof(float));
    assert_int_equal(eval_prompt(calibrated, 30, s1, &st1), FLM_OK);
    assert_int_equal(eval_prompt(bundled, 30, s2, &st2), FLM_OK);
    // the first layer's masks are the same; later ones see slightly different inputs (requantized down)
    assert_true(fabs((double)st1.n_live - (double)st2.n_live) < 0.01 * (double)st1.n_live);
    double dot = 0, n1 = 0, n2 = 0;
    for (size_t i = 0; i < nv; i++) dot += (double)s1[i] * s2[i], n1 += (double)s1[i] * s1[i], n2 += (double)s2[i] * s2[i];
    if (dot / sqrt(n1 * n2) < 0.99) fail_msg("bundled sparse logits differ: cosine %.4f", dot / sqrt(n1 * n2));
    assert_true(st2.bytes_sparse == st2.bytes_bundled);  // q8_0 bundles: the estimate is what is read
    free(a), free(b), free(s1), free(s2);
    snprintf(args, sizeof args, "convert --bundle %s %s", bundled, bundled);
    rc = run_cli(args, &msg);
    if (rc != 1 || !strstr(msg, "refusing to overwrite")) fail_msg("convert onto its input: %d %s", rc, msg);
    free(msg);
    assert_int_equal(n_tmp_files(), 0);
}

// The fraction of FFN neurons skipped on the first tokens of a text the
// calibration did not see.
static double skipped_on(const char *path, float sparsity, const char *text_file, int32_t n_tok) {
    struct flm_err err = {0};
    struct flm_model *m;
    struct flm_context *c;
    if (flm_model_open(&m, path, NULL, &err)) fail_msg("%s", err.msg);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = n_tok;
    cp.sparsity = sparsity;
    if (flm_context_init(&c, m, &cp, &err)) fail_msg("%s", err.msg);
    char buf[4096];
    FILE *f = fopen(text_file, "r");
    assert_non_null(f);
    const size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int32_t toks[1024], n;
    assert_int_equal(flm_tokenize(m, buf, len, true, false, toks, 1024, &n, &err), FLM_OK);
    if (n > n_tok) n = n_tok;
    assert_int_equal(flm_eval(c, toks, n, false, &err), FLM_OK);
    struct flm_sparse_stats st;
    flm_context_sparse_stats(c, &st);
    flm_context_free(c);
    flm_model_free(m);
    return 1.0 - (double)st.n_live / (double)st.n_neurons;
}

static void test_held_out_fraction(void **state) {
    (void)state;
    const char *m = flm_test_model(SMOL);
    if (!m || !calibrated[0]) skip();
    const int32_t n_tok = getenv("FLM_SANITIZED") ? 32 : 256;
    const char *eval = "/usr/share/common-licenses/GPL-3";
    for (int j = 0; j < 2; j++) {
        const double want = j ? 0.5 : 0.3, got = skipped_on(calibrated, j ? 50 : 30, eval, n_tok);
        if (fabs(got - want) > 0.05)
            fail_msg("chess-cond, level %.0f%%: %.1f%% skipped on GPL-3", want * 100, got * 100);
    }
    // global: one lambda for all layers, sized by the measured sensitivities
    char args[1024], path[320], *msg, *out;
    snprintf(path, sizeof path, "%s/global.gguf", tmpdir);
    const int n_cal = getenv("FLM_SANITIZED") ? 48 : 96;  // and one probe pass per layer on n_cal / 3 tokens
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s --tokens %d -c %d --levels 40 --method global", m,
             CAL_TEXT, path, n_cal, n_cal / 3);
    int rc = run_cli_io(args, NULL, &out, &msg);
    if (rc != 0) fail_msg("calibrate --method global failed (%d): %s", rc, msg);
    assert_non_null(strstr(out, "global thresholds"));
    free(out), free(msg);
    const double got = skipped_on(path, 40, eval, n_tok);
    if (fabs(got - 0.4) > 0.05) fail_msg("global, level 40%%: %.1f%% skipped on GPL-3", got * 100);
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s --method teal", m, CAL_TEXT, path);
    rc = run_cli(args, &msg);
    if (rc != 2 || !strstr(msg, "teal")) fail_msg("--method teal: exit %d, stderr: %s", rc, msg);
    free(msg);
}

static void expect_fail(const char *args, const char *needle) {
    char *msg;
    int rc = run_cli(args, &msg);
    if (rc != 1 || !strstr(msg, needle)) fail_msg("'%s': exit %d, stderr: %s (wanted '%s')", args, rc, msg, needle);
    free(msg);
}

static void test_bad_input(void **state) {
    (void)state;
    const char *m = flm_test_model(SMOL);
    if (!m || !calibrated[0]) skip();
    char args[1200], trunc[300], out[300];
    snprintf(out, sizeof out, "%s/x.gguf", tmpdir);
    snprintf(args, sizeof args, "calibrate -m %s/missing.gguf -f %s -o %s", tmpdir, CAL_TEXT, out);
    expect_fail(args, "missing.gguf");
    snprintf(trunc, sizeof trunc, "%s/trunc.gguf", tmpdir);
    snprintf(args, sizeof args, "head -c 1000000 %s > %s", m, trunc);
    assert_int_equal(system(args), 0);
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s", trunc, CAL_TEXT, out);
    expect_fail(args, "trunc.gguf");
    snprintf(args, sizeof args, "calibrate -m %s -f %s/no-text.txt -o %s", m, tmpdir, out);
    expect_fail(args, "no-text.txt");
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s", calibrated, CAL_TEXT, calibrated);
    expect_fail(args, "refusing to overwrite");
    snprintf(args, sizeof args, "run -m %s -p hello -n 2 --sparsity 45", calibrated);
    expect_fail(args, "level 45% is not in the model (it has 30, 50%)");
    snprintf(args, sizeof args, "perplexity -m %s -f %s --sparsity 50", m, CAL_TEXT);
    expect_fail(args, "no activation thresholds");
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(n_tmp_files(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibrate_cli),
        cmocka_unit_test(test_dense_identical_sparse_sane),
        cmocka_unit_test(test_held_out_fraction),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
