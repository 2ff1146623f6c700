// batch_test.c - several sequences in one context, advanced together by
// flm_eval_seqs (continuous batching), against each sequence run alone in a
// context of its own and fed the same tokens. Sequences join late (one is
// admitted while the others decode), prompts span several passes, one is
// cut back and re-fed. Also the argument checks, which must leave every
// sequence as it was.
//
// SmolLM2's Q4_1 kernels sum each output in the same order whatever the
// number of rows in a pass, so there the logits must be bit-identical. Gemma
// 3's K-quant kernels (like llama.cpp's) choose their order by row count, and
// that model amplifies rounding: its logits move by up to ~5% of their range
// between orders (the scalar and SIMD paths differ as much), so there they
// must agree within 10% and pick the same token wherever the lone run's
// margin is clear.
#include "test_util.h"

#include "flashlm.h"

#include <math.h>
#include <string.h>

enum { N_SEQ = 4, N_GEN = 12, MAX_TOK = 256 };

static const char *prompts[N_SEQ] = {
    "The capital of France is",
    "Write a short poem about the sea, the wind and the gulls that cry over the harbour at dawn, in four "
    "lines, rhyming the second and the fourth, with a title on a line of its own and nothing else after it "
    "please, and make it gentle.",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "1, 2, 3, 4,",
};
static const int join_step[N_SEQ] = {0, 0, 3, 5};  // decode step at which each sequence arrives

struct alone {
    int32_t tok[N_GEN];
    float  *logits[N_GEN];  // after the prompt, then after each generated token
};

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static int tokenize(const struct flm_model *m, const char *text, int32_t *tok) {
    struct flm_err err;
    int32_t n = 0;
    assert_int_equal(flm_tokenize(m, text, strlen(text), true, true, tok, MAX_TOK, &n, &err), FLM_OK);
    return n;
}

static void run_alone(const struct flm_model *m, const char *prompt, struct alone *a, int32_t n_vocab) {
    struct flm_err err;
    struct flm_context *c;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 512;
    cp.n_batch = 32;  // the long prompt takes several passes
    assert_int_equal(flm_context_init(&c, m, &cp, &err), FLM_OK);
    int32_t tok[MAX_TOK];
    const int n = tokenize(m, prompt, tok);
    assert_int_equal(flm_eval(c, tok, n, false, &err), FLM_OK);
    for (int s = 0; s < N_GEN; s++) {
        a->logits[s] = malloc(sizeof(float) * (size_t)n_vocab);
        memcpy(a->logits[s], flm_get_logits(c, -1), sizeof(float) * (size_t)n_vocab);
        a->tok[s] = argmax(a->logits[s], n_vocab);
        if (s + 1 < N_GEN) assert_int_equal(flm_eval(c, &a->tok[s], 1, false, &err), FLM_OK);
    }
    flm_context_free(c);
}

static double rel_diff(const float *a, const float *b, int32_t n) {
    double worst = 0, scale = 0;
    for (int32_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return worst / scale;
}

static double max_abs(const float *x, int32_t n) {
    double m = 0;
    for (int32_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double margin(const float *x, int32_t n) {  // top-1 minus top-2
    const int32_t b = argmax(x, n);
    double second = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        if (i != b) second = fmax(second, x[i]);
    return x[b] - second;
}

static void run_model(const char *file, double tolerance) {
    const char *path = flm_test_model(file);
    if (!path) skip();
    struct flm_err err;
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, NULL, &err), FLM_OK);
    struct flm_model_info info;
    flm_model_get_info(m, &info);
    const int32_t n_vocab = info.n_vocab;
    static struct alone ref[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) run_alone(m, prompts[s], &ref[s], n_vocab);

    struct flm_context *c;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 512;
    cp.n_batch = 32;
    cp.n_seq = N_SEQ;
    assert_int_equal(flm_context_init(&c, m, &cp, &err), FLM_OK);
    assert_int_equal(flm_context_n_seq(c), N_SEQ);

    int32_t prompt[N_SEQ][MAX_TOK], n_prompt[N_SEQ], next[N_SEQ];
    int produced[N_SEQ] = {0};
    for (int s = 0; s < N_SEQ; s++) n_prompt[s] = tokenize(m, prompts[s], prompt[s]);
    double worst = 0;
    for (int step = 0;; step++) {
        struct flm_seq_batch items[N_SEQ];
        int n_items = 0;
        for (int s = N_SEQ - 1; s >= 0; s--) {  // reverse order: item order is not sequence order
            if (step == join_step[s])
                items[n_items++] = (struct flm_seq_batch){s, prompt[s], n_prompt[s], false};
            else if (step > join_step[s] && produced[s] < N_GEN)
                items[n_items++] = (struct flm_seq_batch){s, &next[s], 1, false};
        }
        if (n_items == 0) break;
        assert_int_equal(flm_eval_seqs(c, items, n_items, &err), FLM_OK);
        for (int i = 0; i < n_items; i++) {
            const int s = items[i].seq;
            const float *lg = flm_get_logits_seq(c, s, -1);
            assert_non_null(lg);
            assert_null(flm_get_logits_seq(c, s, 1));  // only the last token's were kept
            const float *want = ref[s].logits[produced[s]];
            const double d = rel_diff(want, lg, n_vocab);
            worst = fmax(worst, d);
            if (margin(want, n_vocab) > 2 * d * max_abs(want, n_vocab))
                assert_int_equal(argmax(lg, n_vocab), ref[s].tok[produced[s]]);
            next[s] = ref[s].tok[produced[s]];  // both runs go on with the same tokens
            produced[s]++;
        }
        // a sequence not in this step has no logits
        for (int s = 0; s < N_SEQ; s++) {
            bool in = false;
            for (int i = 0; i < n_items; i++) in |= items[i].seq == s;
            if (!in) assert_null(flm_get_logits_seq(c, s, -1));
        }
    }
    for (int s = 0; s < N_SEQ; s++) assert_int_equal(flm_seq_pos(c, s), n_prompt[s] + N_GEN - 1);
    print_message("%s: %d sequences x %d tokens; worst |dlogit|/max|logit| %.3g\n", file, N_SEQ, N_GEN, worst);
    assert_true(worst <= tolerance);

    // Cut sequence 1 back to its prompt and re-feed the first reply token:
    // the same logits as the first time, while sequence 0 is untouched.
    const int32_t pos0 = flm_seq_pos(c, 0);
    assert_int_equal(flm_seq_truncate(c, 1, n_prompt[1], &err), FLM_OK);
    struct flm_seq_batch again = {1, &ref[1].tok[0], 1, true};
    assert_int_equal(flm_eval_seqs(c, &again, 1, &err), FLM_OK);
    assert_true(rel_diff(ref[1].logits[1], flm_get_logits_seq(c, 1, 0), n_vocab) <= tolerance);
    assert_int_equal(flm_seq_pos(c, 0), pos0);

    // Bad calls are refused and change nothing.
    const int32_t tok = ref[0].tok[0], bad = n_vocab;
    const int32_t before[N_SEQ] = {flm_seq_pos(c, 0), flm_seq_pos(c, 1), flm_seq_pos(c, 2), flm_seq_pos(c, 3)};
    struct flm_seq_batch dup[2] = {{2, &tok, 1, false}, {2, &tok, 1, false}};
    assert_int_equal(flm_eval_seqs(c, dup, 2, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sequence 2 appears twice"));
    struct flm_seq_batch range[2] = {{0, &tok, 1, false}, {N_SEQ, &tok, 1, false}};
    assert_int_equal(flm_eval_seqs(c, range, 2, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "names sequence 4"));
    struct flm_seq_batch vocab[2] = {{0, &tok, 1, false}, {1, &bad, 1, false}};
    assert_int_equal(flm_eval_seqs(c, vocab, 2, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    int32_t many[40];
    for (int i = 0; i < 40; i++) many[i] = tok;
    struct flm_seq_batch rows[2] = {{0, many, 20, true}, {1, many, 20, true}};
    assert_int_equal(flm_eval_seqs(c, rows, 2, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "40 logits rows requested but n_batch is 32"));
    static int32_t huge[512];
    for (int i = 0; i < 512; i++) huge[i] = tok;
    struct flm_seq_batch full[2] = {{0, &tok, 1, false}, {3, huge, 512 - before[3] + 1, false}};
    assert_int_equal(flm_eval_seqs(c, full, 2, &err), FLM_ERR_CONTEXT);
    assert_non_null(strstr(err.msg, "context of sequence 3"));
    assert_int_equal(flm_seq_truncate(c, 0, before[0] + 1, &err), FLM_ERR_INVALID);
    assert_int_equal(flm_seq_truncate(c, N_SEQ, 0, &err), FLM_ERR_INVALID);
    for (int s = 0; s < N_SEQ; s++) assert_int_equal(flm_seq_pos(c, s), before[s]);
    assert_int_equal(flm_seq_pos(c, N_SEQ), -1);

    flm_context_free(c);
    for (int s = 0; s < N_SEQ; s++)
        for (int i = 0; i < N_GEN; i++) free(ref[s].logits[i]);
    flm_model_free(m);
}

static void test_smollm2(void **state) { run_model("SmolLM2-135M-Instruct.Q4_1.gguf", 0.0); }
static void test_gemma3(void **state) { run_model("gemma-3-270m-q4_k_m.gguf", 0.1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
