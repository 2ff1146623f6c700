// matmul_test.c - flm_matmul against a double-precision product of the
// dequantized weights and dequantized activations, for every weight type,
// on awkward row counts and token counts, with 1 and 3 threads (which must
// agree bit for bit: each output is one dot product whatever the split).
#include "test_util.h"

#include "kernels/matmul.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

static const enum flm_type types[] = {FLM_TYPE_F32,  FLM_TYPE_F16,  FLM_TYPE_BF16, FLM_TYPE_Q4_0, FLM_TYPE_Q4_1,
                                      FLM_TYPE_Q5_0, FLM_TYPE_Q5_1, FLM_TYPE_Q8_0, FLM_TYPE_Q2_K, FLM_TYPE_Q3_K,
                                      FLM_TYPE_Q4_K, FLM_TYPE_Q5_K, FLM_TYPE_Q6_K};

static void check_type(enum flm_type t, int64_t k, int64_t rows, int n, struct flm_pool *p1, struct flm_pool *p3) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    assert_non_null(tr);
    const struct flm_type_traits *dt = flm_quant_traits(tr->vec_dot_type);
    uint64_t seed = 99 + (uint64_t)t;
    const size_t rb = flm_type_row_size(t, k);
    char *w = malloc(rb * (size_t)rows);
    float *wf = malloc(sizeof(float) * (size_t)(k * rows)), *row = malloc(sizeof(float) * (size_t)k);
    float *x = malloc(sizeof(float) * (size_t)(k * n)), *xd = malloc(sizeof(float) * (size_t)(k * n));
    float *y1 = malloc(sizeof(float) * (size_t)(rows * n)), *y3 = malloc(sizeof(float) * (size_t)(rows * n));
    void *scratch = malloc(flm_matmul_scratch_bytes(t, k, n) + 1);
    char *xq = malloc(flm_type_row_size(tr->vec_dot_type, k) + 1);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < k; i++) row[i] = flm_test_randf(&seed);
        tr->from_float(row, w + (size_t)r * rb, k);
        tr->to_float(w + (size_t)r * rb, wf + r * k, k);
    }
    for (int64_t i = 0; i < k * n; i++) x[i] = flm_test_randf(&seed) * 2;
    for (int i = 0; i < n; i++) {  // what the activations become after quantization
        if (tr->vec_dot_type == FLM_TYPE_F32) {
            memcpy(xd + (size_t)i * k, x + (size_t)i * k, sizeof(float) * (size_t)k);
        } else {
            flm_quant_act_from_float(tr->vec_dot_type)(x + (size_t)i * k, xq, k);
            dt->to_float(xq, xd + (size_t)i * k, k);
        }
    }
    struct flm_mat m = {.type = t, .n_cols = k, .n_rows = rows, .row_bytes = rb, .data = w};
    flm_matmul(p1, &m, x, n, y1, scratch);
    flm_matmul(p3, &m, x, n, y3, scratch);
    for (int i = 0; i < n; i++)
        for (int64_t r = 0; r < rows; r++) {
            double ref = 0, mag = 0;
            for (int64_t j = 0; j < k; j++) {
                ref += (double)wf[r * k + j] * xd[(size_t)i * k + j];
                mag += fabs((double)wf[r * k + j] * xd[(size_t)i * k + j]);
            }
            const float got = y1[(size_t)i * rows + r];
            // Q8_1 keeps d * sum(q) in half precision for the min term of Q4_1/Q5_1
            const double tol = tr->vec_dot_type == FLM_TYPE_Q8_1 ? 2e-3 : 1e-5;
            if (fabs(got - ref) > tol * mag + 1e-6)
                fail_msg("type %d k %lld row %lld token %d: %g vs %g", t, (long long)k, (long long)r, i, got, ref);
            assert_memory_equal(&y1[(size_t)i * rows + r], &y3[(size_t)i * rows + r], sizeof(float));
        }
    free(w), free(wf), free(row), free(x), free(xd), free(y1), free(y3), free(scratch), free(xq);
}

static void test_all_types(void **state) {
    (void)state;
    struct flm_pool *p1, *p3;
    struct flm_err err;
    assert_int_equal(flm_pool_init(&p1, 1, &err), FLM_OK);
    assert_int_equal(flm_pool_init(&p3, 3, &err), FLM_OK);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int64_t blk = flm_type_layout(types[i])->blck_size == 1 ? 32 : flm_type_layout(types[i])->blck_size;
        check_type(types[i], blk, 1, 1, p1, p3);
        check_type(types[i], blk * 3, 7, 2, p1, p3);
        check_type(types[i], blk * 2, 13, 5, p1, p3);
        check_type(types[i], blk * 2, 16, 9, p1, p3);  // 8+ rows: K-quants take the batched order
    }
    flm_pool_free(p1);
    flm_pool_free(p3);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_types)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
