// q4_0_tiled_test.c - the Q4_0 product in llama.cpp's repacked-kernel order:
// the scalar reference computes the true product (to float rounding), every
// SIMD variant and flm_matmul give exactly its bits, on awkward sizes (K = 32,
// 64, odd block counts, more blocks than a chunk, row counts that are not
// whole tiles, bands that start mid-tile, 1..9 activation rows, 1-3 threads).
// The exact bits against llama.cpp are checked end to end
// (tests/e2e/parity_test.c, SmolLM2 requantized to Q4_0).
#include "test_util.h"

#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/q4_0_tiled.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

struct data {
    int64_t  k, rows;
    int      n;
    size_t   rb, xs;
    void    *w, *xq;
    float   *x;
    int32_t *sums;
};

static void make(struct data *d, int64_t k, int64_t rows, int n, uint64_t seed) {
    d->k = k, d->rows = rows, d->n = n;
    d->rb = flm_type_row_size(FLM_TYPE_Q4_0, k);
    d->xs = flm_type_row_size(FLM_TYPE_Q8_0, k);
    d->w = malloc(d->rb * (size_t)rows);
    d->xq = malloc(d->xs * (size_t)n);
    d->x = malloc(sizeof(float) * (size_t)(k * n));
    d->sums = malloc(sizeof(int32_t) * (size_t)(k / 32 * n));
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t r = 0; r < rows; r++) {
        const float scale = 0.01f + (float)(r % 7);  // rows of different magnitudes
        for (int64_t i = 0; i < k; i++) row[i] = flm_test_randf(&seed) * scale;
        flm_quant_traits(FLM_TYPE_Q4_0)->from_float(row, (char *)d->w + (size_t)r * d->rb, k);
    }
    for (int64_t i = 0; i < k * n; i++) d->x[i] = flm_test_randf(&seed) * 3;
    for (int i = 0; i < n; i++) {
        flm_quant_act_from_float(FLM_TYPE_Q8_0)(d->x + i * k, (char *)d->xq + (size_t)i * d->xs, k);
        flm_q4_0_block_sums((char *)d->xq + (size_t)i * d->xs, k, d->sums + i * (k / 32));
    }
    free(row);
}

static void drop(struct data *d) { free(d->w), free(d->xq), free(d->x), free(d->sums); }

static struct flm_q4_0_rows_args args(const struct data *d, float *y) {
    return (struct flm_q4_0_rows_args){.k = d->k, .w = d->w, .row_bytes = d->rb, .xq = d->xq, .xq_stride = d->xs,
                                       .xsum = d->sums, .n = d->n, .y = y, .y_stride = d->rows};
}

// The reference against a double-precision product of the dequantized values.
static void check_ref(const struct data *d, const float *y) {
    float *wd = malloc(sizeof(float) * (size_t)d->k), *xd = malloc(sizeof(float) * (size_t)d->k);
    for (int i = 0; i < d->n; i++) {
        flm_quant_traits(FLM_TYPE_Q8_0)->to_float((char *)d->xq + (size_t)i * d->xs, xd, d->k);
        for (int64_t r = 0; r < d->rows; r++) {
            flm_quant_traits(FLM_TYPE_Q4_0)->to_float((char *)d->w + (size_t)r * d->rb, wd, d->k);
            double ref = 0, mag = 0;
            for (int64_t j = 0; j < d->k; j++) {
                ref += (double)wd[j] * xd[j];
                mag += fabs((double)wd[j] * xd[j]);
            }
            assert_true(fabs(y[i * d->rows + r] - ref) <= 1e-5 * mag + 1e-6);
        }
    }
    free(wd), free(xd);
}

static void check(int64_t k, int64_t rows, int n, uint64_t seed, struct flm_pool *pools[3]) {
    struct data d;
    make(&d, k, rows, n, seed);
    const size_t ybytes = sizeof(float) * (size_t)(rows * n);
    float *ref = malloc(ybytes), *got = malloc(ybytes);
    struct flm_q4_0_rows_args a = args(&d, ref);
    flm_q4_0_rows_ref(&a, 0, rows);
    check_ref(&d, ref);
    for (int isa = FLM_ISA_SCALAR + 1; isa < FLM_ISA_COUNT; isa++) {
        const flm_q4_0_rows_fn f = flm_kernel_q4_0_rows_isa((enum flm_isa)isa);
        if (!f) continue;
        a = args(&d, got);
        memset(got, 0xFF, ybytes);
        f(&a, 0, rows);
        assert_memory_equal(got, ref, ybytes);
        // bands that start and end mid-tile: rows [0, 8), [8, rows - 8), [rows - 8, rows)
        memset(got, 0xFF, ybytes);
        const int64_t cut[4] = {0, rows > 8 ? 8 : rows, rows > 16 ? rows - 8 : rows, rows};
        for (int c = 0; c < 3; c++) f(&a, cut[c], cut[c + 1]);
        assert_memory_equal(got, ref, ybytes);
    }
    // through flm_matmul on 1, 2 and 3 threads
    struct flm_mat m = {.type = FLM_TYPE_Q4_0, .n_cols = k, .n_rows = rows, .row_bytes = d.rb, .data = d.w,
                        .order = FLM_ORDER_Q4_0_TILED};
    void *scratch = malloc(flm_matmul_scratch_bytes(FLM_TYPE_Q4_0, k, n));
    for (int t = 0; t < 3; t++) {
        memset(got, 0xFF, ybytes);
        flm_matmul(pools[t], &m, d.x, n, got, scratch);
        assert_memory_equal(got, ref, ybytes);
    }
    free(scratch), free(ref), free(got);
    drop(&d);
}

static void test_tiled_order(void **state) {
    struct flm_pool *pools[3];
    struct flm_err err = {0};
    for (int t = 0; t < 3; t++) assert_int_equal(flm_pool_init(&pools[t], t + 1, &err), FLM_OK);
    const int64_t ks[] = {32, 64, 96, 32 * 17, 32 * 33};
    const int64_t rows[] = {8, 16, 24, 40, 72};
    const int ns[] = {1, 2, 3, 4, 5, 9};
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
            for (size_t l = 0; l < sizeof ns / sizeof ns[0]; l++) check(ks[i], rows[j], ns[l], seed++, pools);
    for (int t = 0; t < 3; t++) flm_pool_free(pools[t]);
}

// The order differs from the plain vec_dot's (one lane per block, no final
// reduction): the test above would not notice if a variant fell back to it,
// so check the reference's bits on a case where the two orders differ.
static void test_not_plain_order(void **state) {
    int differ = 0;
    for (uint64_t s = 1; s <= 50; s++) {
        struct data d;
        make(&d, 32 * 24, 1, 1, s);
        float seq, plain;
        flm_q4_0_dot_seq_ref(d.k, &seq, d.w, d.xq);
        flm_kernel_vec_dot(FLM_TYPE_Q4_0)(d.k, &plain, d.w, d.xq);
        differ += memcmp(&seq, &plain, sizeof seq) != 0;
        drop(&d);
    }
    assert_true(differ > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiled_order),
        cmocka_unit_test(test_not_plain_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
