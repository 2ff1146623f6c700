// sampler_test.c - the sampling chain against hand-computed values and
// brute-force references (full sorts, exact softmax in double).
#include "test_util.h"

#include "decode/sampler.h"

#include <math.h>
#include <string.h>
#include <time.h>

// ---------------------------------------------------------------- helpers

static struct flm_sampler_params plain(void) {  // temperature 1, no filters
    struct flm_sampler_params p = flm_sampler_params_default();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static struct flm_sampler *make(const struct flm_sampler_params *p, int32_t n_vocab) {
    struct flm_sampler *s = NULL;
    struct flm_err err = {0};
    flm_status st = flm_sampler_init_n_vocab(&s, p, n_vocab, &err);
    if (st != FLM_OK) fprintf(stderr, "init: %s\n", err.msg);
    assert_int_equal(st, FLM_OK);
    assert_non_null(s);
    return s;
}

// Probability dist gives token id, or -1 when it was filtered out.
static double prob_of(const struct flm_token_prob *c, int32_t n, int32_t id) {
    for (int32_t i = 0; i < n; i++) {
        if (c[i].id == id) return c[i].v;
    }
    return -1.0;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) {
        if (x[i] > x[b]) b = i;
    }
    return b;
}

struct idval {
    int32_t id;
    float   v;
};
static int by_value_desc(const void *a, const void *b) {
    const struct idval *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

// ---------------------------------------------------------------- defaults, greedy

static void test_defaults(void **state) {
    (void)state;
    struct flm_sampler_params p = flm_sampler_params_default();
    assert_true(p.temperature == 0.8f);
    assert_int_equal(p.top_k, 40);
    assert_true(p.top_p == 0.95f);
    assert_true(p.min_p == 0.05f);
    assert_true(p.repeat_penalty == 1.0f);
    assert_int_equal(p.repeat_last_n, 64);
    assert_true(p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f);
    assert_true(p.seed == 0xF1A5);
    struct flm_sampler *s = NULL;
    assert_int_equal(flm_sampler_init_n_vocab(&s, NULL, 7, NULL), FLM_OK);  // NULL params: defaults
    assert_int_equal(flm_sampler_n_vocab(s), 7);
    flm_sampler_free(s);
    flm_sampler_free(NULL);
}

static void test_greedy_argmax(void **state) {
    (void)state;
    enum { N = 1003 };
    static float logits[N];
    uint64_t rs = 12345;
    struct flm_sampler_params p = flm_sampler_params_default();
    p.temperature = 0.0f;
    struct flm_sampler *s = make(&p, N);
    for (int row = 0; row < 20; row++) {
        for (int i = 0; i < N; i++) logits[i] = 8.0f * flm_test_randf(&rs);
        assert_int_equal(flm_sampler_sample(s, logits), argmax(logits, N));
    }
    // ties go to the lowest id; NaN never wins
    for (int i = 0; i < N; i++) logits[i] = 0.0f;
    logits[0] = NAN;
    logits[700] = 5.0f;
    logits[31] = 5.0f;
    logits[999] = 5.0f;
    assert_int_equal(flm_sampler_sample(s, logits), 31);
    flm_sampler_free(s);

    p.temperature = -2.0f;  // negative is greedy too
    s = make(&p, N);
    assert_int_equal(flm_sampler_sample(s, logits), 31);
    const struct flm_token_prob *c;
    assert_int_equal(flm_sampler_dist(s, logits, &c), 1);
    assert_int_equal(c[0].id, 31);
    assert_true(c[0].v == 1.0f);
    flm_sampler_free(s);
}

// ---------------------------------------------------------------- penalties

static void test_penalties_exact(void **state) {
    (void)state;
    const float logits[6] = {2.0f, -1.0f, 0.5f, 3.0f, -0.25f, 0.0f};
    struct flm_sampler_params p = plain();
    p.repeat_penalty = 1.5f;
    p.frequency_penalty = 0.25f;
    p.presence_penalty = 0.5f;
    p.repeat_last_n = 4;
    struct flm_sampler *s = make(&p, 6);
    // history 2 3 0 1 0 0 with a window of 4 -> {0: 3, 1: 1}; 2 and 3 fell out
    const int32_t hist[] = {2, 3, 0, 1, 0, 0};
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++) flm_sampler_accept(s, hist[i]);
    flm_sampler_accept(s, -1);  // out of range: ignored
    flm_sampler_accept(s, 6);
    // hand-computed: t0 2/1.5 - (3*0.25 + 0.5); t1 -1*1.5 - (0.25 + 0.5); rest untouched
    const double want[6] = {2.0 / 1.5 - 1.25, -1.5 - 0.75, 0.5, 3.0, -0.25, 0.0};
    double z = 0.0;
    for (int i = 0; i < 6; i++) z += exp(want[i]);
    const struct flm_token_prob *c;
    const int32_t n = flm_sampler_dist(s, logits, &c);
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++) assert_float_equal(prob_of(c, n, i), exp(want[i]) / z, 1e-6);

    // reset forgets the history: the plain softmax comes back
    flm_sampler_reset(s);
    z = 0.0;
    for (int i = 0; i < 6; i++) z += exp((double)logits[i]);
    flm_sampler_dist(s, logits, &c);
    for (int i = 0; i < 6; i++) assert_float_equal(prob_of(c, n, i), exp((double)logits[i]) / z, 1e-6);
    flm_sampler_free(s);
}

// The sampler remembers what it picked: greedy with a strong repeat penalty
// alternates, exactly as the hand-computed logits say.
static void test_penalty_remembers_samples(void **state) {
    (void)state;
    const float logits[3] = {1.0f, 0.9f, -3.0f};
    struct flm_sampler_params p = flm_sampler_params_default();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    struct flm_sampler *s = make(&p, 3);
    // 1) 1.0 vs 0.9 -> 0.  2) 0.5 vs 0.9 -> 1.  3) 0.5 vs 0.45 -> 0.
    // 4) window {1, 0}: 0.5 vs 0.45 -> 0.  5) window {0, 0}: 0.5 vs 0.9 -> 1.
    const int32_t want[] = {0, 1, 0, 0, 1};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) assert_int_equal(flm_sampler_sample(s, logits), want[i]);
    flm_sampler_free(s);

    // presence alone: 1.0 - 0.2 = 0.8 < 0.9
    p = flm_sampler_params_default();
    p.temperature = 0.0f;
    p.presence_penalty = 0.2f;
    s = make(&p, 3);
    flm_sampler_accept(s, 0);
    assert_int_equal(flm_sampler_sample(s, logits), 1);
    flm_sampler_free(s);

    // repeat_last_n 0 turns every penalty off
    p.repeat_last_n = 0;
    p.repeat_penalty = 10.0f;
    s = make(&p, 3);
    flm_sampler_accept(s, 0);
    assert_int_equal(flm_sampler_sample(s, logits), 0);
    assert_int_equal(flm_sampler_sample(s, logits), 0);
    flm_sampler_free(s);
}

// ---------------------------------------------------------------- top_k, top_p, min_p

static void test_top_k(void **state) {
    (void)state;
    enum { N = 1001, K = 5 };
    static float logits[N];
    static struct idval ref[N];
    uint64_t rs = 777;
    struct flm_sampler_params p = flm_sampler_params_default();
    p.top_k = 1;
    struct flm_sampler *s1 = make(&p, N);
    p.top_k = K;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temperature = 0.7f;
    struct flm_sampler *sk = make(&p, N);
    for (int row = 0; row < 10; row++) {
        for (int i = 0; i < N; i++) logits[i] = 4.0f * flm_test_randf(&rs);
        if (row == 3) logits[17] = logits[400] = 9.0f;  // a tie at the top
        assert_int_equal(flm_sampler_sample(s1, logits), argmax(logits, N));  // top_k 1 == greedy

        for (int i = 0; i < N; i++) ref[i] = (struct idval){i, logits[i]};
        qsort(ref, N, sizeof ref[0], by_value_desc);
        double z = 0.0;
        for (int i = 0; i < K; i++) z += exp((double)ref[i].v / 0.7);
        const struct flm_token_prob *c;
        assert_int_equal(flm_sampler_dist(sk, logits, &c), K);
        for (int i = 0; i < K; i++) {  // same ids, best first, softmax of logits / T
            assert_int_equal(c[i].id, ref[i].id);
            assert_float_equal(c[i].v, exp((double)ref[i].v / 0.7) / z, 1e-6);
        }
    }
    flm_sampler_free(s1);
    flm_sampler_free(sk);
}

// Draws many tokens and checks that only `allowed` appear, with frequencies
// matching want[] (renormalised probabilities) within tol.
static void check_draws(struct flm_sampler *s, const float *logits, int32_t n, const double *want, int draws,
                        double tol) {
    int counts[16] = {0};
    assert_true(n <= 16);
    for (int i = 0; i < draws; i++) {
        const int32_t t = flm_sampler_sample(s, logits);
        assert_true(t >= 0 && t < n);
        counts[t]++;
    }
    for (int32_t t = 0; t < n; t++) {
        if (want[t] == 0.0) {
            assert_int_equal(counts[t], 0);
        } else {
            assert_float_equal((double)counts[t] / draws, want[t], tol);
        }
    }
}

static void test_top_p(void **state) {
    (void)state;
    // probabilities 0.05 0.3 0.1 0.4 0.15 by id: top_p 0.8 keeps 0.4 0.3 0.15 (sum 0.85)
    const double pr[5] = {0.05, 0.3, 0.1, 0.4, 0.15};
    float logits[5];
    for (int i = 0; i < 5; i++) logits[i] = (float)log(pr[i]);
    const double want[5] = {0, 0.3 / 0.85, 0, 0.4 / 0.85, 0.15 / 0.85};
    for (int with_k = 0; with_k < 2; with_k++) {  // heap path, then the sorted path after top_k
        struct flm_sampler_params p = plain();
        p.top_p = 0.8f;
        p.top_k = with_k ? 4 : 0;
        struct flm_sampler *s = make(&p, 5);
        const struct flm_token_prob *c;
        assert_int_equal(flm_sampler_dist(s, logits, &c), 3);
        assert_int_equal(c[0].id, 3);
        assert_int_equal(c[1].id, 1);
        assert_int_equal(c[2].id, 4);
        for (int i = 0; i < 3; i++) assert_float_equal(c[i].v, want[c[i].id], 1e-6);
        check_draws(s, logits, 5, want, 100000, 0.01);
        flm_sampler_free(s);
    }
    // top_p below the best token's probability keeps just that one
    struct flm_sampler_params p = plain();
    p.top_p = 0.1f;
    struct flm_sampler *s = make(&p, 5);
    for (int i = 0; i < 50; i++) assert_int_equal(flm_sampler_sample(s, logits), 3);
    flm_sampler_free(s);
}

static void test_min_p_and_temperature(void **state) {
    (void)state;
    // min_p 0.22 of the max 0.5 is 0.11: keeps 0.5 0.2 0.12, drops 0.1 0.05 0.03
    const double pr[6] = {0.1, 0.5, 0.03, 0.12, 0.05, 0.2};
    float logits[6];
    for (int i = 0; i < 6; i++) logits[i] = (float)log(pr[i]);
    struct flm_sampler_params p = plain();
    p.min_p = 0.22f;
    struct flm_sampler *s = make(&p, 6);
    const double want[6] = {0, 0.5 / 0.82, 0, 0.12 / 0.82, 0, 0.2 / 0.82};
    const struct flm_token_prob *c;
    assert_int_equal(flm_sampler_dist(s, logits, &c), 3);
    check_draws(s, logits, 6, want, 100000, 0.01);
    flm_sampler_free(s);

    // temperature 0.5 squares the kept probabilities before renormalising
    p.temperature = 0.5f;
    s = make(&p, 6);
    const double z = 0.25 + 0.0144 + 0.04;
    const double want_t[6] = {0, 0.25 / z, 0, 0.0144 / z, 0, 0.04 / z};
    const int32_t n = flm_sampler_dist(s, logits, &c);
    assert_int_equal(n, 3);
    for (int i = 0; i < 6; i++) {
        if (want_t[i] > 0) assert_float_equal(prob_of(c, n, i), want_t[i], 1e-6);
    }
    check_draws(s, logits, 6, want_t, 100000, 0.01);
    flm_sampler_free(s);
}

// ---------------------------------------------------------------- seeds

static void run_seq(struct flm_sampler *s, int32_t *out, int n, int32_t n_vocab) {
    static float logits[300];
    uint64_t rs = 99;
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < n_vocab; j++) logits[j] = 2.0f * flm_test_randf(&rs);
        out[i] = flm_sampler_sample(s, logits);
    }
}

static void test_seeds(void **state) {
    (void)state;
    enum { T = 200, NV = 300 };
    int32_t a[T], b[T], c[T], d[T];
    struct flm_sampler_params p = flm_sampler_params_default();
    p.temperature = 1.5f;
    p.top_k = 0;
    struct flm_sampler *s1 = make(&p, NV), *s2 = make(&p, NV);
    p.seed = 0xF1A6;
    struct flm_sampler *s3 = make(&p, NV);
    run_seq(s1, a, T, NV);
    run_seq(s2, b, T, NV);
    run_seq(s3, c, T, NV);
    assert_memory_equal(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < T; i++) same += a[i] == c[i];
    assert_true(same < T / 2);
    flm_sampler_reset(s1);  // reset reseeds: the same sequence again
    run_seq(s1, d, T, NV);
    assert_memory_equal(a, d, sizeof a);
    flm_sampler_free(s1);
    flm_sampler_free(s2);
    flm_sampler_free(s3);
}

// ---------------------------------------------------------------- invalid

static void expect_invalid(struct flm_sampler_params p, int32_t n_vocab, const char *field) {
    struct flm_sampler *s = (struct flm_sampler *)&p;  // must be overwritten with NULL
    struct flm_err err = {0};
    assert_int_equal(flm_sampler_init_n_vocab(&s, &p, n_vocab, &err), FLM_ERR_INVALID);
    assert_null(s);
    assert_int_equal(err.status, FLM_ERR_INVALID);
    if (!strstr(err.msg, field)) fail_msg("message '%s' does not name '%s'", err.msg, field);
}

static void test_invalid_params(void **state) {
    (void)state;
    const struct flm_sampler_params d = flm_sampler_params_default();
    struct flm_sampler_params p;
    p = d, p.temperature = NAN, expect_invalid(p, 10, "temperature");
    p = d, p.temperature = INFINITY, expect_invalid(p, 10, "temperature");
    p = d, p.top_k = -1, expect_invalid(p, 10, "top_k");
    p = d, p.top_p = 0.0f, expect_invalid(p, 10, "top_p");
    p = d, p.top_p = 1.5f, expect_invalid(p, 10, "top_p");
    p = d, p.top_p = NAN, expect_invalid(p, 10, "top_p");
    p = d, p.min_p = -0.1f, expect_invalid(p, 10, "min_p");
    p = d, p.min_p = 1.01f, expect_invalid(p, 10, "min_p");
    p = d, p.min_p = NAN, expect_invalid(p, 10, "min_p");
    p = d, p.repeat_penalty = 0.0f, expect_invalid(p, 10, "repeat_penalty");
    p = d, p.repeat_penalty = NAN, expect_invalid(p, 10, "repeat_penalty");
    p = d, p.repeat_last_n = -1, expect_invalid(p, 10, "repeat_last_n");
    p = d, p.repeat_last_n = FLM_SAMPLER_MAX_LAST_N + 1, expect_invalid(p, 10, "repeat_last_n");
    p = d, p.frequency_penalty = INFINITY, expect_invalid(p, 10, "frequency_penalty");
    p = d, p.presence_penalty = NAN, expect_invalid(p, 10, "presence_penalty");
    expect_invalid(d, 0, "n_vocab");
    expect_invalid(d, -5, "n_vocab");
    // the edges of the ranges are accepted
    p = d, p.top_p = 1.0f, p.min_p = 1.0f, p.top_k = 0, p.repeat_last_n = 0;
    struct flm_sampler *s = make(&p, 1);
    const float one = 0.5f;
    assert_int_equal(flm_sampler_sample(s, &one), 0);
    flm_sampler_free(s);
}

// ---------------------------------------------------------------- a real vocabulary size

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_huge_vocab(void **state) {
    (void)state;
    enum { N = 262144 };
    float *logits = malloc(N * sizeof *logits);
    struct idval *ref = malloc(N * sizeof *ref);
    assert_non_null(logits);
    assert_non_null(ref);
    uint64_t rs = 4242;
    for (int i = 0; i < N; i++) logits[i] = 6.0f * flm_test_randf(&rs);
    for (int i = 0; i < N; i++) ref[i] = (struct idval){i, logits[i]};
    qsort(ref, N, sizeof ref[0], by_value_desc);

    // top_p alone (heap path): exactly the prefix of the full sort that reaches 0.3
    struct flm_sampler_params p = plain();
    p.top_p = 0.3f;
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 64;
    struct flm_sampler *s = make(&p, N);
    double z = 0.0;
    for (int i = 0; i < N; i++) z += exp((double)logits[i] - (double)ref[0].v);
    int32_t m = 0;
    for (double cum = 0.0; m < N && cum < (double)0.3f;) cum += exp((double)ref[m++].v - (double)ref[0].v) / z;
    const struct flm_token_prob *c;
    assert_int_equal(flm_sampler_dist(s, logits, &c), m);
    for (int32_t i = 0; i < m; i++) assert_int_equal(c[i].id, ref[i].id);

    const int reps = 20;
    double t0 = now_s();
    for (int i = 0; i < reps; i++) {
        const int32_t t = flm_sampler_sample(s, logits);
        assert_true(t >= 0 && t < N);
    }
    const double t_top_p = (now_s() - t0) / reps;
    flm_sampler_free(s);

    // the defaults (top_k 40 first)
    s = make(NULL, N);
    t0 = now_s();
    for (int i = 0; i < reps; i++) {
        const int32_t t = flm_sampler_sample(s, logits);
        bool in_top = false;
        for (int j = 0; j < 40; j++) in_top |= ref[j].id == t;
        assert_true(in_top);
    }
    const double t_def = (now_s() - t0) / reps;
    flm_sampler_free(s);
    printf("sampler: n_vocab %d: %.3f ms/token with defaults, %.3f ms/token top_p only\n", N, 1e3 * t_def,
           1e3 * t_top_p);
    free(ref);
    free(logits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy_argmax),
        cmocka_unit_test(test_penalties_exact),
        cmocka_unit_test(test_penalty_remembers_samples),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_min_p_and_temperature),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_invalid_params),
        cmocka_unit_test(test_huge_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
