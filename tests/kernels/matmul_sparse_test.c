// matmul_sparse_test.c - the sparse FFN halves against dense flm_matmul on
// random data at awkward sizes: selected rows give the very bits of the dense
// product (one activation row), and the live column blocks give the dense
// product of an activation zeroed outside them, up to float rounding; with 1
// and 3 threads. The _at variants, on the live rows copied to other rows (a
// neuron cache's slots) and called in parts, give the very bits of the
// plain calls.
#include "test_util.h"

#include "kernels/matmul_sparse.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

static const enum flm_type types[] = {FLM_TYPE_F32,  FLM_TYPE_F16,  FLM_TYPE_Q4_0, FLM_TYPE_Q4_1, FLM_TYPE_Q5_0,
                                      FLM_TYPE_Q8_0, FLM_TYPE_Q4_K, FLM_TYPE_Q6_K, FLM_TYPE_Q2_K};

struct mat {
    struct flm_mat m;
    char          *data;
};

static struct mat make(enum flm_type t, int64_t k, int64_t rows, uint64_t *seed) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    const size_t rb = flm_type_row_size(t, k);
    struct mat r = {.data = malloc(rb * (size_t)rows)};
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < k; j++) row[j] = flm_test_randf(seed);
        tr->from_float(row, r.data + (size_t)i * rb, k);
    }
    free(row);
    r.m = (struct flm_mat){.type = t, .n_cols = k, .n_rows = rows, .row_bytes = rb, .data = r.data};
    return r;
}

static void check(enum flm_type t, int64_t k, int64_t rows, double live_p, struct flm_pool *pool) {
    uint64_t seed = 1234 + (uint64_t)t * 7 + (uint64_t)k;
    struct mat w = make(t, k, rows, &seed);
    float *x = malloc(sizeof(float) * (size_t)k), *xz = malloc(sizeof(float) * (size_t)k);
    float *yd = malloc(sizeof(float) * (size_t)rows), *ys = malloc(sizeof(float) * (size_t)rows);
    int32_t *live = malloc(sizeof(int32_t) * (size_t)rows);
    const int64_t bs = flm_matmul_col_block(&w.m), nb = k / bs;
    uint8_t *bl = malloc((size_t)nb);
    void *scratch = malloc(flm_matmul_scratch_bytes(t, k, 1) + 1);
    for (int64_t j = 0; j < k; j++) x[j] = flm_test_randf(&seed) * 3;

    // rows: bit-identical to the dense product where computed, untouched elsewhere
    int32_t n_live = 0;
    for (int64_t r = 0; r < rows; r++)
        if ((flm_test_rand(&seed) % 1000) < live_p * 1000) live[n_live++] = (int32_t)r;
    flm_matmul(pool, &w.m, x, 1, yd, scratch);
    for (int64_t r = 0; r < rows; r++) ys[r] = -777.0f;
    flm_matmul_rows(pool, &w.m, x, live, n_live, ys, scratch);
    for (int32_t q = 0, r = 0; r < rows; r++) {
        if (q < n_live && live[q] == r) {
            assert_memory_equal(&ys[r], &yd[r], sizeof(float));
            q++;
        } else {
            assert_true(ys[r] == -777.0f);
        }
    }

    // the live rows copied to slots in reverse order: the same bits
    char *cache = malloc(w.m.row_bytes * (size_t)(n_live ? n_live : 1));
    int32_t *slot = malloc(sizeof(int32_t) * (size_t)(n_live ? n_live : 1));
    for (int32_t q = 0; q < n_live; q++) {
        slot[q] = n_live - 1 - q;
        memcpy(cache + (size_t)slot[q] * w.m.row_bytes, w.data + (size_t)live[q] * w.m.row_bytes, w.m.row_bytes);
    }
    struct flm_mat wc = w.m;
    wc.data = cache;
    wc.n_rows = n_live;
    for (int64_t r = 0; r < rows; r++) yd[r] = -777.0f;
    flm_matmul_rows_at(pool, &wc, x, live, slot, n_live, yd, scratch);
    assert_memory_equal(yd, ys, sizeof(float) * (size_t)rows);
    free(cache), free(slot);

    // column blocks: x zeroed outside the live blocks, dense vs sparse
    for (int64_t b = 0; b < nb; b++) bl[b] = (flm_test_rand(&seed) % 1000) < live_p * 1000;
    for (int64_t j = 0; j < k; j++) xz[j] = bl[j / bs] ? x[j] : 0.0f;
    flm_matmul(pool, &w.m, xz, 1, yd, scratch);
    flm_matmul_cols(pool, &w.m, xz, bl, ys, scratch);
    for (int64_t r = 0; r < rows; r++) {
        const double tol = 1e-4 * (1.0 + fabs((double)yd[r])) + 1e-5 * (double)k;
        if (fabs((double)ys[r] - (double)yd[r]) > tol)
            fail_msg("type %d k %lld row %lld: sparse %g dense %g", (int)t, (long long)k, (long long)r, (double)ys[r],
                     (double)yd[r]);
    }
    free(w.data), free(x), free(xz), free(yd), free(ys), free(live), free(bl), free(scratch);
}

static void test_sparse_matches_dense(void **state) {
    (void)state;
    struct flm_pool *p1, *p3;
    assert_int_equal(flm_pool_init(&p1, 1, NULL), FLM_OK);
    assert_int_equal(flm_pool_init(&p3, 3, NULL), FLM_OK);
    const double ps[] = {0.0, 0.07, 0.5, 1.0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int64_t blk = flm_type_layout(types[i])->blck_size > 1 ? flm_type_layout(types[i])->blck_size : 32;
        const int64_t ks[] = {blk, 3 * blk, 7 * blk};
        const int64_t rows[] = {1, 5, 33};
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++)
                for (size_t c = 0; c < 4; c++) {
                    check(types[i], ks[a], rows[b], ps[c], p1);
                    check(types[i], ks[a], rows[b], ps[c], p3);
                }
    }
    flm_pool_free(p1);
    flm_pool_free(p3);
}

// Transposed rows (bundled down columns): against a double sum over the
// dequantized live rows, with a row stride larger than a row as in a bundle.
static void check_t(enum flm_type t, int64_t k, int64_t rows, double live_p, struct flm_pool *pool) {
    uint64_t seed = 77 + (uint64_t)t + (uint64_t)rows;
    const struct flm_type_traits *tr = flm_quant_traits(t);
    const size_t rb = flm_type_row_size(t, k), stride = rb + 24;
    char *data = calloc((size_t)rows, stride);
    float *row = malloc(sizeof(float) * (size_t)k), *x = malloc(sizeof(float) * (size_t)rows);
    float *y = malloc(sizeof(float) * (size_t)k);
    double *ref = calloc((size_t)k, sizeof(double));
    int32_t *live = malloc(sizeof(int32_t) * (size_t)rows), n_live = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < k; j++) row[j] = flm_test_randf(&seed);
        tr->from_float(row, data + (size_t)r * stride + 24, k);
        x[r] = flm_test_randf(&seed) * 2;
        if ((flm_test_rand(&seed) % 1000) < live_p * 1000) {
            live[n_live++] = (int32_t)r;
            tr->to_float(data + (size_t)r * stride + 24, row, k);
            for (int64_t j = 0; j < k; j++) ref[j] += (double)x[r] * row[j];
        }
    }
    struct flm_mat w = {.type = t, .n_cols = k, .n_rows = rows, .row_bytes = stride, .data = data + 24};
    flm_matmul_t_rows(pool, &w, x, live, n_live, y);
    for (int64_t j = 0; j < k; j++)
        if (fabs((double)y[j] - ref[j]) > 1e-5 * (1.0 + (double)n_live))
            fail_msg("type %d k %lld col %lld: %g vs %g", (int)t, (long long)k, (long long)j, (double)y[j], ref[j]);
    // the live rows in reverse order in a cache, summed in parts of 7 accumulating: the same bits
    char *cache = calloc((size_t)(n_live ? n_live : 1), stride);
    int32_t *slot = malloc(sizeof(int32_t) * (size_t)(n_live ? n_live : 1));
    for (int32_t q = 0; q < n_live; q++) {
        slot[q] = n_live - 1 - q;
        memcpy(cache + (size_t)slot[q] * stride, data + 24 + (size_t)live[q] * stride, rb);
    }
    struct flm_mat wc = {.type = t, .n_cols = k, .n_rows = n_live, .row_bytes = stride, .data = cache};
    float *y2 = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < k; j++) y2[j] = 555.0f;
    if (n_live == 0) flm_matmul_t_rows_at(pool, &wc, x, live, slot, 0, y2, false);
    for (int32_t k0 = 0; k0 < n_live; k0 += 7)
        flm_matmul_t_rows_at(pool, &wc, x, live + k0, slot + k0, n_live - k0 < 7 ? n_live - k0 : 7, y2, k0 > 0);
    assert_memory_equal(y, y2, sizeof(float) * (size_t)k);
    free(cache), free(slot), free(y2);
    free(data), free(row), free(x), free(y), free(ref), free(live);
}

static void test_transposed_rows(void **state) {
    (void)state;
    struct flm_pool *p1, *p3;
    assert_int_equal(flm_pool_init(&p1, 1, NULL), FLM_OK);
    assert_int_equal(flm_pool_init(&p3, 3, NULL), FLM_OK);
    const enum flm_type ts[] = {FLM_TYPE_Q8_0, FLM_TYPE_Q4_0, FLM_TYPE_Q4_1, FLM_TYPE_Q5_0, FLM_TYPE_F16, FLM_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        const int64_t blk = flm_type_layout(ts[i])->blck_size > 1 ? flm_type_layout(ts[i])->blck_size : 32;
        const int64_t ks[] = {blk, 5 * blk, 18 * blk, 20 * blk};
        for (size_t a = 0; a < 4; a++)
            for (int64_t rows = 1; rows < 70; rows += 23) {
                check_t(ts[i], ks[a], rows, 0.5, p1);
                check_t(ts[i], ks[a], rows, 0.3, p3);
                check_t(ts[i], ks[a], rows, 1.0, p3);
            }
    }
    flm_pool_free(p1);
    flm_pool_free(p3);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sparse_matches_dense),
                                       cmocka_unit_test(test_transposed_rows)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
