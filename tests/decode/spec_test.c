// spec_test.c - the pieces of speculative decoding that need no model: the
// acceptance rule (its output follows the target distribution whatever the
// draft, chi-square over many draws), prompt lookup and layer selection.
#include "test_util.h"

#include "decode/sampler.h"
#include "decode/spec.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- acceptance rule

#define NV 8
#define DRAWS 200000

static struct flm_sampler *rng(uint64_t seed) {
    struct flm_sampler_params p = flm_sampler_params_default();
    p.seed = seed;
    struct flm_sampler *s = NULL;
    struct flm_err err = {0};
    assert_int_equal(flm_sampler_init_n_vocab(&s, &p, NV, &err), FLM_OK);
    return s;
}

static int32_t draw(const float *d, struct flm_sampler *r) {
    const double u = flm_sampler_unit(r);
    double cum = 0.0;
    for (int32_t t = 0; t < NV; t++) {
        cum += d[t];
        if (u < cum) return t;
    }
    return NV - 1;
}

// Chi-square of observed counts against DRAWS * p over the tokens p allows;
// a token p forbids must never appear.
static double chi_square(const long *count, const float *p) {
    double chi = 0.0;
    for (int t = 0; t < NV; t++) {
        if (p[t] == 0.0f) {
            assert_int_equal(count[t], 0);
            continue;
        }
        const double e = (double)DRAWS * p[t];
        chi += (count[t] - e) * (count[t] - e) / e;
    }
    return chi;
}

// Draft x ~ q (or the fixed token x0 when q is NULL), then the rule: the
// result must be distributed as p. 7 degrees of freedom at most: the 0.999
// quantile is 24.3.
static void check_rule(const float *p, const float *q, int32_t x0, uint64_t seed) {
    struct flm_sampler *r = rng(seed);
    long count[NV] = {0};
    long accepted = 0;
    for (int i = 0; i < DRAWS; i++) {
        const int32_t x = q ? draw(q, r) : x0;
        bool ok;
        const int32_t y = flm_spec_accept(p, q, NV, x, r, &ok);
        assert_true(y >= 0 && y < NV);
        if (ok) assert_int_equal(y, x);
        accepted += ok;
        count[y]++;
    }
    const double chi = chi_square(count, p);
    // the acceptance rate is sum_t min(p, q)
    double expect = 0.0;
    for (int t = 0; t < NV; t++) expect += fmin(p[t], q ? q[t] : (float)(t == x0));
    const double rate = (double)accepted / DRAWS;
    if (chi > 24.3 || fabs(rate - expect) > 0.01)
        fail_msg("chi-square %.2f (limit 24.3), acceptance %.4f expected %.4f", chi, rate, expect);
    flm_sampler_free(r);
}

static void test_rule_follows_target(void **state) {
    (void)state;
    const float p[NV] = {0.30f, 0.25f, 0.15f, 0.10f, 0.10f, 0.05f, 0.05f, 0.00f};
    const float q_close[NV] = {0.25f, 0.30f, 0.15f, 0.10f, 0.05f, 0.05f, 0.05f, 0.05f};
    const float q_far[NV] = {0.00f, 0.02f, 0.03f, 0.05f, 0.10f, 0.20f, 0.20f, 0.40f};
    const float q_same[NV] = {0.30f, 0.25f, 0.15f, 0.10f, 0.10f, 0.05f, 0.05f, 0.00f};
    check_rule(p, q_close, -1, 1);
    check_rule(p, q_far, -1, 2);
    check_rule(p, q_same, -1, 3);
    check_rule(p, NULL, 0, 4);  // prompt lookup: a certain draft
    check_rule(p, NULL, 7, 5);  // a draft the target never picks
}

static void test_rule_greedy(void **state) {
    (void)state;
    struct flm_sampler *r = rng(9);
    const float p[NV] = {0, 0, 0, 1, 0, 0, 0, 0};
    bool ok;
    assert_int_equal(flm_spec_accept(p, NULL, NV, 3, r, &ok), 3);
    assert_true(ok);
    assert_int_equal(flm_spec_accept(p, NULL, NV, 5, r, &ok), 3);
    assert_false(ok);
    const float q[NV] = {0.5f, 0, 0, 0.25f, 0, 0.25f, 0, 0};
    assert_int_equal(flm_spec_accept(p, q, NV, 0, r, &ok), 3);
    assert_false(ok);
    flm_sampler_free(r);
}

// ---------------------------------------------------------------- prompt lookup

static void test_lookup(void **state) {
    (void)state;
    int32_t out[8];
    // ... 5 6 7 8 9 ... 5 6 7 -> 8 9 1 2
    const int32_t h[] = {1, 2, 5, 6, 7, 8, 9, 1, 2, 5, 6, 7};
    const int32_t n = (int32_t)(sizeof h / sizeof h[0]);
    assert_int_equal(flm_spec_lookup(h, n, 2, 4, 4, out), 4);
    assert_int_equal(out[0], 8);
    assert_int_equal(out[1], 9);
    assert_int_equal(out[2], 1);
    assert_int_equal(out[3], 2);
    // k bounds the copy; the continuation may run into the suffix itself
    assert_int_equal(flm_spec_lookup(h, n, 2, 4, 2, out), 2);
    // the latest match wins: ... 3 4 A ... 3 4 B ... 3 4 -> B
    const int32_t h2[] = {3, 4, 10, 0, 3, 4, 11, 0, 3, 4};
    assert_int_equal(flm_spec_lookup(h2, 10, 2, 2, 1, out), 1);
    assert_int_equal(out[0], 11);
    // no repeated n-gram of size >= 2: nothing; with size 1 the last 4 matches
    const int32_t h3[] = {1, 2, 3, 4, 5, 4};
    assert_int_equal(flm_spec_lookup(h3, 6, 2, 3, 4, out), 0);
    assert_int_equal(flm_spec_lookup(h3, 6, 1, 3, 4, out), 2);
    assert_int_equal(out[0], 5);
    assert_int_equal(flm_spec_lookup(h3, 1, 1, 3, 4, out), 0);
}

// ---------------------------------------------------------------- layer selection

static void test_layers(void **state) {
    (void)state;
    uint8_t m[10];
    struct flm_err err = {0};
    assert_int_equal(flm_spec_parse_layers("3", 10, m, &err), FLM_OK);
    assert_memory_equal(m, ((uint8_t[10]){1, 1, 1, 0, 0, 0, 0, 0, 0, 0}), 10);
    assert_int_equal(flm_spec_parse_layers("0-2,5,8-9", 10, m, &err), FLM_OK);
    assert_memory_equal(m, ((uint8_t[10]){1, 1, 1, 0, 0, 1, 0, 0, 1, 1}), 10);
    assert_int_equal(flm_spec_parse_layers(NULL, 10, m, &err), FLM_OK);
    assert_memory_equal(m, ((uint8_t[10]){1, 1, 1, 1, 1, 0, 0, 0, 0, 0}), 10);
    const char *bad[] = {"0", "11", "x", "3-1", "0-10", "1,,2", "2-", "-1", "1;2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        if (flm_spec_parse_layers(bad[i], 10, m, &err) != FLM_ERR_INVALID) fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(err.msg, "layers"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_follows_target),
        cmocka_unit_test(test_rule_greedy),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
