// q4_K_tiled_test.c - the Q4_K dots in llama.cpp's repacked-kernel orders
// compute the same product as the scalar oracle (to float rounding), on
// awkward superblock counts; their exact bits are checked end to end against
// llama.cpp on Gemma 3 (tests/e2e/parity_test.c).
#include "test_util.h"

#include "kernels/q4_K_tiled.h"
#include "quant/quant.h"

#include <math.h>

static void check(int nb, uint64_t seed) {
    const int64_t k = 256 * nb;
    const struct flm_type_traits *tr = flm_quant_traits(FLM_TYPE_Q4_K);
    float *w = malloc(sizeof(float) * (size_t)k), *a = malloc(sizeof(float) * (size_t)k);
    float *wd = malloc(sizeof(float) * (size_t)k), *ad = malloc(sizeof(float) * (size_t)k);
    void *wq = malloc(flm_type_row_size(FLM_TYPE_Q4_K, k)), *aq = malloc(flm_type_row_size(FLM_TYPE_Q8_K, k));
    for (int64_t i = 0; i < k; i++) {
        w[i] = flm_test_randf(&seed);
        a[i] = flm_test_randf(&seed) * 3;
    }
    tr->from_float(w, wq, k);
    flm_quant_act_from_float(FLM_TYPE_Q8_K)(a, aq, k);
    tr->to_float(wq, wd, k);
    flm_quant_traits(FLM_TYPE_Q8_K)->to_float(aq, ad, k);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < k; i++) {
        ref += (double)wd[i] * ad[i];
        mag += fabs((double)wd[i] * ad[i]);
    }
    float s4, s1, so;
    flm_q4_K_dot_group4_ref(k, &s4, wq, aq);
    flm_q4_K_dot_single_ref(k, &s1, wq, aq);
    tr->vec_dot(k, &so, wq, aq);
    assert_true(fabs(s4 - ref) <= 1e-5 * mag + 1e-6);
    assert_true(fabs(s1 - ref) <= 1e-5 * mag + 1e-6);
    assert_true(fabs(s4 - so) <= 1e-5 * mag + 1e-6);
    free(w), free(a), free(wd), free(ad), free(wq), free(aq);
}

static void test_orders_agree_with_oracle(void **state) {
    const int nbs[] = {1, 2, 3, 5, 8};
    for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
        for (uint64_t s = 1; s <= 20; s++) check(nbs[i], s * 7919 + (uint64_t)i);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_orders_agree_with_oracle)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
