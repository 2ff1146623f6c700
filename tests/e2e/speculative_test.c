// speculative_test.c - speculative decoding on the real models.
//
//  * a verify pass (flm_eval_opts row_order, all logits) gives, bit for bit,
//    the logits of evaluating its tokens one at a time, for 1..12 rows (the
//    4-row groups and the >= 8-row K-quant path of a plain batch differ);
//  * greedy generation with every drafter (prompt lookup, self-speculation
//    with a prefix and a scattered layer subset, a draft model) gives exactly
//    the tokens of plain greedy generation, on both models and many prompts,
//    with the adaptive controller and with a fixed draft length;
//  * sampling runs through the acceptance rule and stays in the vocabulary;
//  * a draft model with another vocabulary is refused with the reason.
// Under the sanitizers (FLM_SANITIZED=1) prompts and lengths are cut down.
#include "test_util.h"

#include "flashlm.h"
#include "model/context.h"

#include <stdlib.h>
#include <string.h>

static const char *const models[] = {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"};

static const char *const prompts[] = {
    "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\n# Rewrite both functions with type hints:\n",
    "The capital of France is",
    ("<|im_start|>user\nRepeat exactly: the quick brown fox jumps over the lazy dog. the quick brown fox<|im_end|>\n"
     "<|im_start|>assistant\n"),
    "1, 2, 3, 4, 5, 6, 7, 8,",
    "Once upon a time, in a small village by the sea, there lived",
    "<start_of_turn>user\nWrite a haiku about rain.<end_of_turn>\n<start_of_turn>model\n",
    "int main(void) {\n    for (int i = 0; i < 10; i++) {\n        printf(\"%d\\n\", i);\n    }\n",
    "Q: What is 12 times 12?\nA:",
    "SELECT name, age FROM users WHERE age > 30 ORDER BY",
    "Translate to French: I like apples and I like pears. Je",
};

static bool sanitized(void) { return getenv("FLM_SANITIZED") != NULL; }

struct collect {
    int32_t toks[256];
    int32_t n;
};

static bool collect_tok(void *user, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    struct collect *c = user;
    if (c->n < 256) c->toks[c->n++] = token;
    return true;
}

struct env {
    struct flm_model   *model;
    struct flm_context *ctx;
};

static bool open_env(struct env *e, const char *file, int n_ctx) {
    const char *path = flm_test_model(file);
    if (!path) return false;
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    if (flm_model_open(&e->model, path, &mp, &err)) fail_msg("open %s: %s", file, err.msg);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = n_ctx;
    if (flm_context_init(&e->ctx, e->model, &cp, &err)) fail_msg("context: %s", err.msg);
    return true;
}

static void close_env(struct env *e) {
    flm_context_free(e->ctx);
    flm_model_free(e->model);
}

static int32_t tokenize(const struct flm_model *m, const char *text, int32_t *toks, int32_t cap) {
    int32_t n = 0;
    struct flm_err err = {0};
    if (flm_tokenize(m, text, strlen(text), true, true, toks, cap, &n, &err)) fail_msg("tokenize: %s", err.msg);
    return n;
}

// ---------------------------------------------------------------- verify pass bits

static void test_verify_bits(void **state) {
    (void)state;
    for (size_t mi = 0; mi < 2; mi++) {
        struct env e = {0};
        if (!open_env(&e, models[mi], 256)) {
            skip();
            return;
        }
        const int32_t nv = e.model->hp.n_vocab;
        int32_t prompt[128];
        const int32_t np = tokenize(e.model, prompts[0], prompt, 128);
        const int max_rows = sanitized() ? 5 : 12;
        float *one = malloc(sizeof(float) * (size_t)nv * (size_t)max_rows);
        struct flm_err err = {0};
        for (int rows = 1; rows <= max_rows; rows += sanitized() ? 4 : 1) {
            const int32_t *toks = prompt + 5;  // any tokens will do
            assert_int_equal(flm_context_truncate(e.ctx, 0, &err), FLM_OK);
            assert_int_equal(flm_eval(e.ctx, prompt, np, false, &err), FLM_OK);
            for (int i = 0; i < rows; i++) {
                assert_int_equal(flm_eval(e.ctx, &toks[i], 1, false, &err), FLM_OK);
                memcpy(one + (size_t)i * nv, flm_get_logits(e.ctx, -1), sizeof(float) * (size_t)nv);
            }
            assert_int_equal(flm_context_truncate(e.ctx, np, &err), FLM_OK);
            const struct flm_eval_opts o = {.row_order = true};
            assert_int_equal(flm_eval_opts(e.ctx, toks, rows, true, &o, &err), FLM_OK);
            for (int i = 0; i < rows; i++)
                if (memcmp(one + (size_t)i * nv, flm_get_logits(e.ctx, i), sizeof(float) * (size_t)nv))
                    fail_msg("%s: row %d of a %d-row verify pass differs from one-token decoding", models[mi], i, rows);
        }
        free(one);
        close_env(&e);
    }
}

// ---------------------------------------------------------------- greedy identity

static void generate(struct env *e, struct flm_spec *spec, const char *text, int32_t n_predict, float temp,
                     struct collect *out) {
    struct flm_sampler_params sp = flm_sampler_params_default();
    sp.temperature = temp;
    struct flm_sampler *smp;
    struct flm_err err = {0};
    assert_int_equal(flm_sampler_init(&smp, &sp, e->model, &err), FLM_OK);
    int32_t toks[256];
    const int32_t n = tokenize(e->model, text, toks, 256);
    assert_int_equal(flm_context_truncate(e->ctx, 0, &err), FLM_OK);
    out->n = 0;
    flm_status s = spec ? flm_generate_spec(spec, smp, toks, n, n_predict, collect_tok, out, NULL, &err)
                        : flm_generate_tokens(e->ctx, smp, toks, n, n_predict, collect_tok, out, NULL, &err);
    if (s) fail_msg("generate: %s", err.msg);
    flm_sampler_free(smp);
}

struct config {
    enum flm_spec_mode mode;
    const char        *layers;
    int32_t            draft_max;
    bool               adaptive;
};

// Every prompt runs plain, then one variant of each drafter (rotating through
// the variants), so all variants meet several prompts at a bounded cost.
static void check_identity(const char *file, const struct config *cfg, size_t n_cfg) {
    struct env e = {0}, d = {0};
    if (!open_env(&e, file, 512) || !open_env(&d, file, 16)) {
        skip();
        return;
    }
    const size_t n_prompts = sanitized() ? 1 : sizeof prompts / sizeof prompts[0];
    const int32_t n_predict = sanitized() ? 12 : 32;
    for (size_t pi = 0; pi < n_prompts; pi++) {
        struct collect plain, spec_out;
        generate(&e, NULL, prompts[pi], n_predict, 0.0f, &plain);
        for (int mode = FLM_SPEC_LOOKUP; mode <= FLM_SPEC_DRAFT; mode++) {
            size_t n_var = 0, ci = 0;
            for (size_t c = 0; c < n_cfg; c++) n_var += cfg[c].mode == (enum flm_spec_mode)mode;
            for (size_t c = 0, v = 0; c < n_cfg; c++)
                if (cfg[c].mode == (enum flm_spec_mode)mode && v++ == pi % n_var) ci = c;
            struct flm_spec_params sp = flm_spec_params_default();
            sp.mode = cfg[ci].mode;
            sp.self_layers = cfg[ci].layers;
            sp.draft_max = cfg[ci].draft_max;
            sp.adaptive = cfg[ci].adaptive;
            sp.draft_model = d.model;  // the same file: a drafter that agrees often
            struct flm_spec *spec;
            struct flm_err err = {0};
            if (flm_spec_init(&spec, e.ctx, &sp, &err)) fail_msg("spec: %s", err.msg);
            generate(&e, spec, prompts[pi], n_predict, 0.0f, &spec_out);
            struct flm_spec_stats st;
            flm_spec_get_stats(spec, &st);
            if (spec_out.n != plain.n || memcmp(spec_out.toks, plain.toks, sizeof(int32_t) * (size_t)plain.n)) {
                int32_t i = 0;
                while (i < plain.n && i < spec_out.n && plain.toks[i] == spec_out.toks[i]) i++;
                fail_msg("%s prompt %zu mode %d layers %s k %d: token %d differs (%d tokens vs %d)", file, pi,
                         (int)sp.mode, sp.self_layers ? sp.self_layers : "-", sp.draft_max, i, spec_out.n, plain.n);
            }
            if (!sp.adaptive && sp.mode != FLM_SPEC_LOOKUP && plain.n > 1) assert_true(st.n_passes > 0);
            fprintf(stderr, "%s prompt %zu mode %d: %d tokens identical; %d passes, %d/%d drafts accepted\n", file,
                    pi, mode, plain.n, st.n_passes, st.n_accepted, st.n_drafted);
            flm_spec_free(spec);
        }
    }
    close_env(&d);
    close_env(&e);
}

static const struct config configs[] = {
    {FLM_SPEC_LOOKUP, NULL, 8, true},
    {FLM_SPEC_LOOKUP, NULL, 5, false},
    {FLM_SPEC_SELF, NULL, 4, false},
    {FLM_SPEC_SELF, "0-3,7,9-10", 9, false},
    {FLM_SPEC_SELF, "2", 3, true},
    {FLM_SPEC_DRAFT, NULL, 10, false},
    {FLM_SPEC_DRAFT, NULL, 6, true},
};

static void test_greedy_smollm2(void **state) {
    (void)state;
    check_identity(models[0], configs, sizeof configs / sizeof configs[0]);
}

static void test_greedy_gemma3(void **state) {
    (void)state;
    check_identity(models[1], configs, sizeof configs / sizeof configs[0]);
}

// ---------------------------------------------------------------- sampling, continuation

static void test_sampling_and_turns(void **state) {
    (void)state;
    struct env e = {0};
    if (!open_env(&e, models[0], 512)) {
        skip();
        return;
    }
    const enum flm_spec_mode modes[] = {FLM_SPEC_LOOKUP, FLM_SPEC_SELF, FLM_SPEC_DRAFT};
    for (size_t mi = 0; mi < 3; mi++) {
        struct flm_spec_params sp = flm_spec_params_default();
        sp.mode = modes[mi];
        sp.adaptive = false;
        sp.draft_model = e.model;
        struct flm_spec *spec;
        struct flm_err err = {0};
        assert_int_equal(flm_spec_init(&spec, e.ctx, &sp, &err), FLM_OK);
        struct collect out;
        generate(&e, spec, prompts[2], sanitized() ? 8 : 32, 0.8f, &out);
        assert_true(out.n > 0);
        for (int32_t i = 0; i < out.n; i++) assert_true(out.toks[i] >= 0 && out.toks[i] < e.model->hp.n_vocab);
        // a second turn after the caller truncated the context, as chat does
        const int32_t keep = flm_context_pos(e.ctx) / 2;
        assert_int_equal(flm_context_truncate(e.ctx, keep, &err), FLM_OK);
        struct flm_sampler_params p = flm_sampler_params_default();
        struct flm_sampler *smp;
        assert_int_equal(flm_sampler_init(&smp, &p, e.model, &err), FLM_OK);
        const int32_t more[] = {1, 2, 3};
        if (flm_generate_spec(spec, smp, more, 3, 8, NULL, NULL, NULL, &err)) fail_msg("second turn: %s", err.msg);
        // tokens evaluated behind the drafter's back are refused
        assert_int_equal(flm_eval(e.ctx, more, 1, false, &err), FLM_OK);
        assert_int_equal(flm_generate_spec(spec, smp, more, 3, 8, NULL, NULL, NULL, &err), FLM_ERR_INVALID);
        assert_non_null(strstr(err.msg, "has not seen"));
        flm_sampler_free(smp);
        flm_spec_free(spec);
    }
    close_env(&e);
}

// ---------------------------------------------------------------- refused drafters

static void test_vocab_mismatch(void **state) {
    (void)state;
    struct env e = {0}, d = {0};
    if (!open_env(&e, models[0], 64) || !open_env(&d, models[1], 64)) {
        skip();
        return;
    }
    struct flm_spec_params sp = flm_spec_params_default();
    sp.mode = FLM_SPEC_DRAFT;
    sp.draft_model = d.model;
    struct flm_spec *spec = (struct flm_spec *)&sp;
    struct flm_err err = {0};
    assert_int_equal(flm_spec_init(&spec, e.ctx, &sp, &err), FLM_ERR_INVALID);
    assert_null(spec);
    assert_non_null(strstr(err.msg, "vocabulary size 262144 differs from the target's 49152"));
    sp.mode = FLM_SPEC_SELF;
    sp.self_layers = "99";
    assert_int_equal(flm_spec_init(&spec, e.ctx, &sp, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "layers '99'"));
    sp.mode = FLM_SPEC_LOOKUP;
    sp.draft_max = 0;
    assert_int_equal(flm_spec_init(&spec, e.ctx, &sp, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "draft_max"));
    close_env(&d);
    close_env(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_bits),
        cmocka_unit_test(test_vocab_mismatch),
        cmocka_unit_test(test_sampling_and_turns),
        cmocka_unit_test(test_greedy_smollm2),
        cmocka_unit_test(test_greedy_gemma3),
    };
    if (getenv("FLM_TEST_FILTER")) cmocka_set_test_filter(getenv("FLM_TEST_FILTER"));  // e.g. "test_greedy_*"
    return cmocka_run_group_tests(tests, NULL, NULL);
}
