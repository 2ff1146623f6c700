// quantize_test.c - flm_quantize against llama.cpp's llama_model_quantize:
// the small models of scripts/refs/quantize_refs.py (F16, BF16 and F32
// weights, tied and separate output, row lengths that are not multiples of
// 256, 8 layers so the per-layer rules show) are written again here, checked
// to be the same bytes the script quantized, quantized to every offered file
// type, and the whole output file and each tensor (type and bytes) compared
// with the hashes of llama.cpp's output. A requantized input (llama.cpp's Q8_0
// of the F16 model, dequantized first) is checked the same way. Then the
// engine runs the quantized files and its logits stay near the unquantized
// model's.
#include "test_util.h"

#include "convert/qmodel.h"
#include "flashlm.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char dir[256];

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/flm_quantize_test_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void quantize_ok(const char *in, const char *out, const char *type) {
    struct flm_quantize_params p = flm_quantize_params_default();
    p.type = type;
    p.n_threads = 2;
    struct flm_err err = {0};
    if (flm_quantize(in, out, &p, &err) != FLM_OK) fail_msg("quantize %s -> %s: %s", in, type, err.msg);
}

// Names the first tensor that differs, for a useful failure message.
static void compare_tensors(const char *path, const struct qm_case *c) {
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, path, 0, &err), FLM_OK);
    assert_int_equal(flm_gguf_n_tensors(g), c->n_tensors);
    for (int i = 0; i < c->n_tensors; i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        char sha[65];
        sha256_of(t->data, t->nbytes, sha);
        const char *tn = flm_type_layout(t->type)->name;
        if ((int)t->name.len != (int)strlen(c->t[i].name) || memcmp(t->name.ptr, c->t[i].name, t->name.len) ||
            strcasecmp(tn, c->t[i].type) || strcmp(sha, c->t[i].sha))
            fail_msg("%s: tensor %d is '%.*s' %s %.12s, llama.cpp wrote '%s' %s %.12s", c->type, i, (int)t->name.len,
                     t->name.ptr, tn, sha, c->t[i].name, c->t[i].type, c->t[i].sha);
    }
    flm_gguf_close(g);
}

// Under the sanitizers only these types run (the rest is the same code).
static bool selected(const char *type) {
    if (!getenv("FLM_SANITIZED")) return true;
    static const char *const few[] = {"Q4_K_M", "Q8_0", "Q5_1", "Q3_K_M", "F16"};
    for (size_t i = 0; i < sizeof few / sizeof few[0]; i++)
        if (!strcmp(type, few[i])) return true;
    return false;
}

static void check_input(const char *tag, const char *in) {
    struct qm_fixture fx;
    qm_fixture_read(tag, &fx);
    char sha[65];
    assert_int_equal(sha256_file(in, sha), 0);
    if (strcmp(sha, fx.input_sha))
        fail_msg("%s: regenerated input differs from the script's (%s, fixture %s)", tag, sha, fx.input_sha);
    qm_fixture_free(&fx);
}

static void check_cases(const char *tag, const char *in) {
    struct qm_fixture fx;
    qm_fixture_read(tag, &fx);
    char out[320];
    path_of(out, sizeof out, "out.gguf");
    int n_run = 0;
    for (int k = 0; k < fx.n_cases; k++) {
        const struct qm_case *c = &fx.cases[k];
        if (!selected(c->type)) continue;
        quantize_ok(in, out, c->type);
        char sha[65];
        assert_int_equal(sha256_file(out, sha), 0);
        if (strcmp(sha, c->file_sha)) {
            compare_tensors(out, c);  // fails with the tensor when one differs
            fail_msg("%s %s: tensors match but the file differs (metadata or layout)", tag, c->type);
        }
        n_run++;
    }
    assert_true(n_run > 0);
    qm_fixture_free(&fx);
}

static void model(char *path, size_t n, const char *tag, const struct qm_spec *p, enum flm_type type) {
    char name[64];
    snprintf(name, sizeof name, "%s.gguf", tag);
    path_of(path, n, name);
    qm_write(p, type, path);
    check_input(tag, path);
}

static void test_smol_f16(void **state) {
    char in[320];
    model(in, sizeof in, "smol_f16", &qm_smol, FLM_TYPE_F16);
    check_cases("smol_f16", in);
}

static void test_smol_bf16(void **state) {
    char in[320];
    model(in, sizeof in, "smol_bf16", &qm_smol, FLM_TYPE_BF16);
    check_cases("smol_bf16", in);
}

static void test_wide_f32(void **state) {
    char in[320];
    model(in, sizeof in, "wide_f32", &qm_wide, FLM_TYPE_F32);
    check_cases("wide_f32", in);
}

// Input already quantized: flashlm's Q8_0 of the F16 model (which must be
// the bytes llama.cpp wrote, the fixture's input) dequantized and quantized
// again.
static void test_requantize(void **state) {
    char f16[320], q8[320];
    model(f16, sizeof f16, "smol_f16", &qm_smol, FLM_TYPE_F16);
    path_of(q8, sizeof q8, "smol_q8.gguf");
    quantize_ok(f16, q8, "Q8_0");
    check_input("smol_q8", q8);
    check_cases("smol_q8", q8);
}

// ---------------------------------------------------------------- the engine runs them

// Logits of 6 tokens (every position) from a model file.
static float *logits_of(const char *path, int *n_vocab) {
    struct flm_model *m;
    struct flm_context *ctx;
    struct flm_err err;
    struct flm_model_params mp = flm_model_params_default();
    if (flm_model_open(&m, path, &mp, &err) != FLM_OK) fail_msg("open %s: %s", path, err.msg);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 32;
    cp.n_threads = 2;
    assert_int_equal(flm_context_init(&ctx, m, &cp, &err), FLM_OK);
    const int32_t toks[6] = {1, 77, 3, 200, 258, 42};
    if (flm_eval(ctx, toks, 6, true, &err) != FLM_OK) fail_msg("eval %s: %s", path, err.msg);
    struct flm_model_info info;
    flm_model_get_info(m, &info);
    *n_vocab = info.n_vocab;
    float *l = malloc(sizeof(float) * 6 * (size_t)info.n_vocab);
    assert_non_null(l);
    for (int i = 0; i < 6; i++) memcpy(l + (size_t)i * info.n_vocab, flm_get_logits(ctx, i), sizeof(float) * info.n_vocab);
    flm_context_free(ctx);
    flm_model_free(m);
    return l;
}

// Root-mean-square difference of the quantized model's logits from the
// reference's, relative to the reference logits' root mean square.
static double rel_error(const float *ref, const float *q, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(q[i])) return INFINITY;
        d += ((double)q[i] - ref[i]) * ((double)q[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return sqrt(d / r);
}

static void run_types(const char *tag, const struct qm_spec *p, enum flm_type type,
                      const char *const *types, const double *tol, int n) {
    char in[320], out[320];
    model(in, sizeof in, tag, p, type);
    int nv, nq;
    float *ref = logits_of(in, &nv);
    for (int k = 0; k < n; k++) {
        path_of(out, sizeof out, "run.gguf");
        quantize_ok(in, out, types[k]);
        float *q = logits_of(out, &nq);
        assert_int_equal(nq, nv);
        double e = rel_error(ref, q, 6 * (size_t)nv);
        print_message("%s %-6s: rms logit error / rms logit = %.4f (limit %.3f)\n", tag, types[k], e, tol[k]);
        if (!(e < tol[k])) fail_msg("%s %s: relative logit error %.4f over %.2f", tag, types[k], e, tol[k]);
        free(q);
    }
    free(ref);
}

static void test_engine_runs_outputs(void **state) {
    static const char *const types[] = {"Q4_K_M", "Q8_0", "Q5_1", "Q4_0", "Q6_K", "Q3_K_M", "Q2_K", "Q5_K_S", "BF16"};
    static const double tol[] = {0.2, 0.04, 0.16, 0.35, 0.1, 0.35, 0.7, 0.18, 0.015};  // ~1.5x measured
    const int n = getenv("FLM_SANITIZED") ? 3 : (int)(sizeof types / sizeof types[0]);
    run_types("smol_f16", &qm_smol, FLM_TYPE_F16, types, tol, n);
    run_types("wide_f32", &qm_wide, FLM_TYPE_F32, types, tol, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smol_f16),
        cmocka_unit_test(test_smol_bf16),
        cmocka_unit_test(test_wide_f32),
        cmocka_unit_test(test_requantize),
        cmocka_unit_test(test_engine_runs_outputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
