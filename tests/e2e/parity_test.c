// parity_test.c - the engine against llama.cpp on the real default models.
//
// For every stored case (tests/fixtures/e2e, made by scripts/refs/llama_refs.py):
//  * teacher-forced logits: prompt + llama.cpp's continuation are evaluated
//    and, at every position, our logits at the reference's top-32 ids and at
//    64 fixed probe ids are compared with llama.cpp's, relative to its
//    max|logit| at that position;
//  * free-running greedy generation of 128 tokens, compared token by token.
// Under the sanitizers (FLM_SANITIZED=1) only a short prefix of one case runs.
#include "test_util.h"

#include "e2e/fixture.h"
#include "flashlm.h"

#include <math.h>
#include <string.h>

// Worst |ours - llama.cpp| / max|logit| allowed at any position: 1e-2 is
// the requirement; the engine reproduces llama.cpp's rounding steps, so the
// logits are bit-identical on both models (the fixture's 6 printed digits
// leave about 3e-6).
#define LOGIT_TOL 1e-2

struct run {
    struct flm_model   *model;
    struct flm_context *ctx;
    struct fix_model    fix;
    bool                short_run;
};

// max(a, b), b ignored when NaN (as fmax). Not fmax itself: gcc 12 for
// aarch64 crashes vectorizing an fmax reduction over these loops.
static double worse(double a, double b) { return b > a ? b : a; }

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double compare_row(const struct fix_model *fm, const struct fix_pos *ref, const float *ours) {
    double worst = 0;
    for (int i = 0; i < FIX_TOPK; i++) worst = worse(worst, fabs(ours[ref->top_id[i]] - ref->top_val[i]));
    for (int i = 0; i < FIX_PROBE; i++) worst = worse(worst, fabs(ours[fm->probe_ids[i]] - ref->probe[i]));
    return worst / ref->maxabs;
}

// Teacher-forced, evaluated as the reference was: the prompt in one call,
// then each continuation token alone. Returns the worst relative error and
// counts argmax agreement.
static double teacher_forced(struct run *r, const struct fix_case *c, int n_pos, int *agree) {
    struct flm_err err = {0};
    assert_int_equal(flm_context_truncate(r->ctx, 0, &err), FLM_OK);
    assert_true(c->prompt.n <= flm_context_n_batch(r->ctx));
    double worst = 0;
    *agree = 0;
    const int n_vocab = r->fix.n_vocab;
    for (int p = 0; p < n_pos;) {
        const bool prompt = p == 0;
        const int n = prompt ? (c->prompt.n < n_pos ? c->prompt.n : n_pos) : 1;
        const int32_t *toks = prompt ? c->prompt.v : &c->gen.v[p - c->prompt.n];
        if (flm_eval(r->ctx, toks, n, true, &err) != FLM_OK) fail_msg("eval: %s", err.msg);
        for (int i = 0; i < n; i++) {
            const float *lg = flm_get_logits(r->ctx, i);
            const double e = compare_row(&r->fix, &c->pos[p + i], lg);
            if (e > 1e-5 && getenv("FLM_PARITY_DEBUG")) printf("  pos %d: rel %.3g\n", p + i, e);
            worst = fmax(worst, e);
            *agree += argmax(lg, n_vocab) == c->pos[p + i].top_id[0];
        }
        p += n;
    }
    return worst;
}

struct collect {
    int32_t toks[256];
    int     n;
};

static bool on_token(void *user, int32_t tok, const char *text, size_t len) {
    struct collect *c = user;
    if (c->n < 256) c->toks[c->n++] = tok;
    return true;
}

// Greedy generation from the prompt; returns the first index that differs
// from llama.cpp's continuation, or n_gen when all match.
static int greedy(struct run *r, const struct fix_case *c, int n_gen) {
    struct flm_err err = {0};
    struct flm_sampler *s;
    struct flm_sampler_params sp = flm_sampler_params_default();
    sp.temperature = 0;
    assert_int_equal(flm_sampler_init(&s, &sp, r->model, &err), FLM_OK);
    assert_int_equal(flm_context_truncate(r->ctx, 0, &err), FLM_OK);
    // generate without stopping at end-of-generation, like the reference
    struct collect col = {.n = 0};
    int32_t tok = -1;
    if (flm_eval(r->ctx, c->prompt.v, c->prompt.n, false, &err)) fail_msg("eval: %s", err.msg);
    for (int i = 0; i < n_gen; i++) {
        tok = flm_sampler_sample(s, flm_get_logits(r->ctx, -1));
        on_token(&col, tok, NULL, 0);
        if (i + 1 < n_gen && flm_eval(r->ctx, &tok, 1, false, &err)) fail_msg("eval: %s", err.msg);
    }
    flm_sampler_free(s);
    for (int i = 0; i < n_gen; i++)
        if (col.toks[i] != c->gen.v[i]) return i;
    return n_gen;
}

static void run_model(const char *file, const char *tag, double tol, bool greedy_exact) {
    const char *path = flm_test_model(file);
    if (!path) {
        print_message("model %s missing: run scripts/fetch_models.sh\n", file);
        skip();
    }
    struct run r = {.short_run = getenv("FLM_SANITIZED") != NULL};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/e2e", FLM_SOURCE_DIR);
    assert_int_equal(fix_load(&r.fix, dir, tag), 0);
    struct flm_err err = {0};
    assert_int_equal(flm_model_open(&r.model, path, NULL, &err), FLM_OK);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 512;
    cp.n_batch = 160;  // the longest prompt in one pass, as llama.cpp ran it
    cp.n_threads = 2;
    assert_int_equal(flm_context_init(&r.ctx, r.model, &cp, &err), FLM_OK);
    int failures = 0;
    const int n_cases = r.short_run ? 1 : r.fix.n_cases;
    for (int i = 0; i < n_cases; i++) {
        const struct fix_case *c = &r.fix.cases[i];
        const int n_pos = r.short_run ? c->prompt.n + 8 : c->n_pos;
        const int n_gen = r.short_run ? 8 : c->gen.n;
        int agree;
        const double worst = teacher_forced(&r, c, n_pos, &agree);
        const int same = greedy(&r, c, n_gen);
        printf("%s %-12s prompt %3d  logits worst rel %.2e  argmax agree %d/%d  greedy identical %d/%d\n", tag,
               c->name, c->prompt.n, worst, agree, n_pos, same, n_gen);
        if (worst > tol || (greedy_exact && same != n_gen)) failures++;
    }
    flm_context_free(r.ctx);
    flm_model_free(r.model);
    fix_free(&r.fix);
    assert_int_equal(failures, 0);
}

static void test_smollm2(void **state) { run_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", LOGIT_TOL, true); }
// SmolLM2 with its matrices requantized to Q4_0 (scripts/requantize_model.py,
// made by scripts/fetch_models.sh): llama.cpp's repacked Q4_0 kernels' order.
static void test_smollm2_q4_0(void **state) {
    run_model("SmolLM2-135M-Instruct.Q4_0.gguf", "smollm2_q4_0", LOGIT_TOL, true);
}
static void test_gemma3(void **state) { run_model("gemma-3-270m-q4_k_m.gguf", "gemma3", LOGIT_TOL, true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_smollm2_q4_0),
        cmocka_unit_test(test_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
