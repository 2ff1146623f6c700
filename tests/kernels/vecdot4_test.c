// vecdot4_test.c - the 4-row vec_dot variants (one weight row, four
// activation rows) and their use by flm_matmul.
//
// 1. Every 4-row variant against its ISA's 1-row kernel (and the other ISA's,
//    which is the same bits) on random rows at several lengths and strides:
//    each of the four results must be the same float, compared with memcmp.
//    Rows are quantized random floats or raw random bytes with random finite
//    f16 scales (including -128 in Q8 quants), and the four activation rows
//    get scales of different magnitudes so that their sums round differently.
// 2. Dispatch: flm_kernel_vec_dot4(t) is the variant of the ISA that
//    flm_kernel_vec_dot(t) comes from, NULL for the oracle and other types.
// 3. flm_matmul with 1..11 activation rows (groups of four plus remainders)
//    gives, bit for bit, one flm_kernel_vec_dot per output.
#include "test_util.h"

#include "core/cpu.h"
#include "core/fp16.h"
#include "core/status.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "quant/quant.h"

#include <string.h>

static const enum flm_type types4[] = {FLM_TYPE_Q4_1, FLM_TYPE_Q8_0, FLM_TYPE_Q5_0};
#define N_TYPES4 (sizeof types4 / sizeof types4[0])

// Every SIMD level of both architectures (those absent here have no variants).
static const enum flm_isa simd_isas[] = {FLM_ISA_AVX2, FLM_ISA_AVX512, FLM_ISA_NEON, FLM_ISA_DOTPROD};
#define N_ISAS (sizeof simd_isas / sizeof simd_isas[0])

// Offsets of the f16 fields in a block of the 32-element types used here.
static int f16_fields(enum flm_type t) {
    return (t == FLM_TYPE_Q4_1 || t == FLM_TYPE_Q8_1) ? 2 : 1;  // d, then m or s
}

// n elements of type t: quantized random floats times scale, or raw random
// bytes with random finite f16 scales of about that size.
static void fill_row(enum flm_type t, int64_t n, float scale, bool raw, uint64_t *seed, void *out) {
    const size_t bytes = flm_type_row_size(t, n);
    if (!raw) {
        float *f = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; ++i) f[i] = flm_test_randf(seed) * scale * (i % 23 == 4 ? 6.0f : 1.0f);
        const struct flm_type_traits *tr = flm_quant_traits(t);
        if (tr->vec_dot) tr->from_float(f, out, n);
        else flm_quant_act_from_float(t)(f, out, n);
        free(f);
        return;
    }
    uint8_t *b = out;
    for (size_t i = 0; i < bytes; ++i) b[i] = (uint8_t)flm_test_rand(seed);
    const size_t bs = flm_type_layout(t)->type_size;
    for (size_t blk = 0; blk < bytes / bs; ++blk) {
        for (int k = 0; k < f16_fields(t); ++k) {
            const uint16_t h = flm_f32_to_f16(flm_test_randf(seed) * scale * (k ? 8.0f : 0.02f));
            memcpy(b + blk * bs + 2 * (size_t)k, &h, 2);
        }
    }
}

static void check_case(enum flm_type t, int64_t n, size_t pad, bool raw, uint64_t *seed) {
    const enum flm_type yt = flm_quant_traits(t)->vec_dot_type;
    const size_t xb = flm_type_row_size(t, n), yb = flm_type_row_size(yt, n);
    const size_t stride = yb + pad;
    uint8_t *x = malloc(xb), *y = malloc(3 * stride + yb);
    memset(y, 0xA5, 3 * stride + yb);  // padding: garbage the kernel must not read
    fill_row(t, n, 1.0f, raw, seed, x);
    static const float row_scale[4] = {1.0f, 1e-3f, 37.0f, 0.25f};
    for (int k = 0; k < 4; ++k) fill_row(yt, n, row_scale[k], raw, seed, y + (size_t)k * stride);
    int n_checked = 0;
    for (size_t a = 0; a < N_ISAS; ++a) {
        const flm_vec_dot4_fn dot4 = flm_kernel_vec_dot4_isa(t, simd_isas[a]);
        if (!dot4) continue;
        float got[4];
        dot4(n, got, x, y, stride);
        for (size_t b = 0; b < N_ISAS; ++b) {
            const flm_vec_dot_fn dot1 = flm_kernel_vec_dot_isa(t, simd_isas[b]);
            if (!dot1) continue;
            for (int k = 0; k < 4; ++k) {
                float want;
                dot1(n, &want, x, y + (size_t)k * stride);
                if (memcmp(&got[k], &want, sizeof want) != 0) {
                    fail_msg("%s vec_dot4 %s vs vec_dot %s, n=%lld pad=%zu raw=%d row %d: %.9g vs %.9g",
                             flm_type_layout(t)->name, flm_isa_name(simd_isas[a]), flm_isa_name(simd_isas[b]),
                             (long long)n, pad, raw, k, got[k], want);
                }
                n_checked++;
            }
        }
    }
    if (flm_cpu_has_isa(FLM_ISA_AVX2) || flm_cpu_has_isa(FLM_ISA_NEON)) assert_true(n_checked >= 4);
    free(x);
    free(y);
}

static void test_bitwise_vs_one_row(void **state) {
    (void)state;
    uint64_t seed = 0x4eed4a11;
    static const int64_t blocks[] = {1, 2, 3, 7, 18, 48, 64, 97};
    for (size_t i = 0; i < N_TYPES4; ++i) {
        const size_t yblk = flm_type_layout(flm_quant_traits(types4[i])->vec_dot_type)->type_size;
        for (size_t c = 0; c < sizeof blocks / sizeof blocks[0]; ++c) {
            const int64_t n = blocks[c] * 32;
            for (int rep = 0; rep < 6; ++rep) {
                const size_t pad = (rep % 3) * yblk + (rep % 3 == 2 ? 2 : 0);  // contiguous, a block, odd
                check_case(types4[i], n, pad, rep & 1, &seed);
            }
        }
    }
}

// ---------------------------------------------------------------- 2. dispatch

static void test_dispatch(void **state) {
    (void)state;
    const bool scalar = flm_cpu_features()->force_scalar;
    for (int t = 0; t < FLM_TYPE_COUNT; ++t) {
        const flm_vec_dot4_fn got = flm_kernel_vec_dot4((enum flm_type)t);
        bool listed = false;
        for (size_t i = 0; i < N_TYPES4; ++i) listed |= types4[i] == (enum flm_type)t;
        if (!listed) {
            assert_null(got);
            for (size_t a = 0; a < N_ISAS; ++a) assert_null(flm_kernel_vec_dot4_isa((enum flm_type)t, simd_isas[a]));
            continue;
        }
        const enum flm_isa isa = flm_kernel_vec_dot_isa_of((enum flm_type)t);
        if (scalar || isa == FLM_ISA_SCALAR) assert_null(got);
        else assert_true(got == flm_kernel_vec_dot4_isa((enum flm_type)t, isa));
        assert_null(flm_kernel_vec_dot4_isa((enum flm_type)t, FLM_ISA_SCALAR));
    }
    assert_null(flm_kernel_vec_dot4(FLM_TYPE_COUNT));
}

// ---------------------------------------------------------------- 3. matmul

static void check_matmul(enum flm_type t, int64_t k, int64_t rows, int n, struct flm_pool *pool, uint64_t *seed) {
    const size_t rb = flm_type_row_size(t, k);
    uint8_t *wdata = malloc(rb * (size_t)rows);
    for (int64_t r = 0; r < rows; ++r) fill_row(t, k, 1.0f, r % 2 == 1, seed, wdata + (size_t)r * rb);
    const struct flm_mat w = {.type = t, .n_cols = k, .n_rows = rows, .row_bytes = rb, .data = wdata,
                              .order = FLM_ORDER_ROW};
    float *x = malloc(sizeof(float) * (size_t)(k * n));
    for (int64_t i = 0; i < k * n; ++i) x[i] = flm_test_randf(seed) * (i % k == 7 ? 20.0f : 1.0f);
    float *y = malloc(sizeof(float) * (size_t)(rows * n));
    void *scratch = malloc(flm_matmul_scratch_bytes(t, k, n));
    flm_matmul(pool, &w, x, n, y, scratch);

    const enum flm_type yt = flm_quant_traits(t)->vec_dot_type;
    const size_t yb = flm_type_row_size(yt, k);
    void *xq = malloc(yb);
    const flm_vec_dot_fn dot = flm_kernel_vec_dot(t);
    for (int i = 0; i < n; ++i) {
        flm_quant_act_from_float(yt)(x + (size_t)i * (size_t)k, xq, k);
        for (int64_t r = 0; r < rows; ++r) {
            float want;
            dot(k, &want, wdata + (size_t)r * rb, xq);
            const float got = y[(size_t)i * (size_t)rows + (size_t)r];
            if (memcmp(&got, &want, sizeof want) != 0)
                fail_msg("%s matmul k=%lld n=%d: row %d out %lld: %.9g vs %.9g", flm_type_layout(t)->name,
                         (long long)k, n, i, (long long)r, got, want);
        }
    }
    free(xq);
    free(scratch);
    free(y);
    free(x);
    free(wdata);
}

static void test_matmul(void **state) {
    (void)state;
    struct flm_err err;
    struct flm_pool *pool;
    assert_int_equal(flm_pool_init(&pool, 2, &err), FLM_OK);
    uint64_t seed = 99;
    for (size_t i = 0; i < N_TYPES4; ++i)
        for (int n = 1; n <= 11; ++n) check_matmul(types4[i], n % 2 ? 96 : 576, 13, n, pool, &seed);
    flm_pool_free(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitwise_vs_one_row),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
