// q4_K_tiled_test.c - the K-quant dots in llama.cpp's repacked and batched
// kernel orders (scalar references and their SIMD variants, bit for bit)
// compute the same product as the scalar oracle (to float rounding), on
// awkward superblock counts; their exact bits are checked end to end against
// llama.cpp on Gemma 3 (tests/e2e/parity_test.c).
#include "test_util.h"

#include "kernels/dispatch.h"
#include "kernels/kq_batch.h"
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
    // the dispatched (SIMD) variants carry exactly the references' bits
    float v4, v1, vb, rb;
    flm_kernel_q4_K_tiled(true)(k, &v4, wq, aq);
    flm_kernel_q4_K_tiled(false)(k, &v1, wq, aq);
    flm_kernel_kq_batch(FLM_TYPE_Q4_K)(k, &vb, wq, aq);
    flm_q4_K_dot_batch_ref(k, &rb, wq, aq);
    assert_memory_equal(&v4, &s4, sizeof v4);
    assert_memory_equal(&v1, &s1, sizeof v1);
    assert_memory_equal(&vb, &rb, sizeof vb);
    assert_true(fabs(rb - ref) <= 1e-5 * mag + 1e-6);
    // Q6_K in the batched order
    void *w6 = malloc(flm_type_row_size(FLM_TYPE_Q6_K, k));
    float *w6d = malloc(sizeof(float) * (size_t)k);
    flm_quant_traits(FLM_TYPE_Q6_K)->from_float(w, w6, k);
    flm_quant_traits(FLM_TYPE_Q6_K)->to_float(w6, w6d, k);
    double ref6 = 0, mag6 = 0;
    for (int64_t i = 0; i < k; i++) {
        ref6 += (double)w6d[i] * ad[i];
        mag6 += fabs((double)w6d[i] * ad[i]);
    }
    float r6, v6;
    flm_q6_K_dot_batch_ref(k, &r6, w6, aq);
    flm_kernel_kq_batch(FLM_TYPE_Q6_K)(k, &v6, w6, aq);
    assert_memory_equal(&v6, &r6, sizeof v6);
    assert_true(fabs(r6 - ref6) <= 1e-5 * mag6 + 1e-6);
    free(w6), free(w6d);
    free(w), free(a), free(wd), free(ad), free(wq), free(aq);
}

static void test_orders_agree_with_oracle(void **state) {
    const int nbs[] = {1, 2, 3, 5, 8};
    for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
        for (uint64_t s = 1; s <= 20; s++) check(nbs[i], s * 7919 + (uint64_t)i);
}

// The four-row kernels carry, for each of the four activation rows, exactly
// the bits of the one-row kernel of the same order.
static void check4(enum flm_type t, flm_vec_dot4_fn four, flm_vec_dot_fn one, int nb, uint64_t seed) {
    const int64_t k = 256 * nb;
    const size_t wbytes = flm_type_row_size(t, k), abytes = flm_type_row_size(FLM_TYPE_Q8_K, k);
    float *f = malloc(sizeof(float) * (size_t)k);
    void *wq = malloc(wbytes);
    char *aq = malloc(4 * abytes);
    for (int64_t i = 0; i < k; i++) f[i] = flm_test_randf(&seed);
    flm_quant_traits(t)->from_float(f, wq, k);
    for (int r = 0; r < 4; r++) {
        for (int64_t i = 0; i < k; i++) f[i] = flm_test_randf(&seed) * (float)(r + 1);
        flm_quant_act_from_float(FLM_TYPE_Q8_K)(f, aq + r * abytes, k);
    }
    float s4[4], s1;
    four(k, s4, wq, aq, abytes);
    for (int r = 0; r < 4; r++) {
        one(k, &s1, wq, aq + r * abytes);
        assert_memory_equal(&s4[r], &s1, sizeof s1);
    }
    free(f), free(wq), free(aq);
}

static void test_four_rows_same_bits(void **state) {
    if (!flm_kernel_q4_K_tiled4()) skip();  // no SIMD: the one-row kernels are all there is
    const int nbs[] = {1, 2, 3, 7};
    for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
        for (uint64_t s = 1; s <= 10; s++) {
            check4(FLM_TYPE_Q4_K, flm_kernel_q4_K_tiled4(), flm_kernel_q4_K_tiled(true), nbs[i], s * 31 + i);
            check4(FLM_TYPE_Q4_K, flm_kernel_kq_batch4(FLM_TYPE_Q4_K), flm_kernel_kq_batch(FLM_TYPE_Q4_K), nbs[i],
                   s * 37 + i);
            check4(FLM_TYPE_Q6_K, flm_kernel_kq_batch4(FLM_TYPE_Q6_K), flm_kernel_kq_batch(FLM_TYPE_Q6_K), nbs[i],
                   s * 41 + i);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_orders_agree_with_oracle),
                                       cmocka_unit_test(test_four_rows_same_bits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
