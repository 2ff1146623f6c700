// legacy_test.c - the 32-element block formats (q4_0, q4_1, q5_0, q5_1,
// q8_0, q8_1): hand-decoded blocks, activation quantizers checked against
// hand-computed levels, round-trip error and dot products.
#include "quant_test_util.h"

// ---------------------------------------------------------------- hand-built blocks
//
// Every expected value below was worked out by hand from the layout in
// quant/blocks.h; the comments give the arithmetic.

static void test_q4_0_block(void **state) {
    (void)state;
    // d = 0.5 (f16 0x3800); qs[j] = j | (15 - j) << 4.
    // element j < 16: (j - 8) * 0.5; element 16 + j: ((15 - j) - 8) * 0.5.
    struct flm_block_q4_0 b = {.d = 0x3800};
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    static const float want[32] = {-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0,  0.5, 1,  1.5,  2,  2.5,  3,  3.5,
                                   3.5, 3,   2.5, 2,   1.5, 1,  0.5, 0,  -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4};
    float y[32];
    flm_q4_0_dequantize_ref(&b, y, 32);
    assert_memory_equal(y, want, sizeof want);
}

static void test_q4_1_block(void **state) {
    (void)state;
    // d = 0.25 (0x3400), m = -1 (0xBC00); qs[j] = j | (15 - j) << 4.
    // element j < 16: j * 0.25 - 1; element 16 + j: (15 - j) * 0.25 - 1.
    struct flm_block_q4_1 b = {.d = 0x3400, .m = 0xBC00};
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    static const float want[32] = {-1,   -0.75, -0.5, -0.25, 0,     0.25, 0.5,   0.75, 1,     1.25, 1.5,
                                   1.75, 2,     2.25, 2.5,   2.75,  2.75, 2.5,   2.25, 2,     1.75, 1.5,
                                   1.25, 1,     0.75, 0.5,   0.25,  0,    -0.25, -0.5, -0.75, -1};
    float y[32];
    flm_q4_1_dequantize_ref(&b, y, 32);
    assert_memory_equal(y, want, sizeof want);
}

static void test_q5_0_block(void **state) {
    (void)state;
    // d = -0.5 (0xB800); qs[j] = j | (15 - j) << 4; qh = 55 55 AA AA: the
    // fifth bit is set for even elements 0..15 and odd elements 17..31.
    // element j < 16: (j + 16 [j even] - 16) * -0.5
    // element 16 + j: ((15 - j) + 16 [j odd] - 16) * -0.5
    struct flm_block_q5_0 b = {.d = 0xB800, .qh = {0x55, 0x55, 0xAA, 0xAA}};
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    static const float want[32] = {0,   7.5, -1, 6.5, -2, 5.5, -3, 4.5, -4,  3.5, -5, 2.5, -6, 1.5, -7, 0.5,
                                   0.5, -7,  1.5, -6, 2.5, -5, 3.5, -4, 4.5, -3,  5.5, -2, 6.5, -1, 7.5, 0};
    float y[32];
    flm_q5_0_dequantize_ref(&b, y, 32);
    for (int j = 0; j < 32; ++j) assert_true(y[j] == want[j]);  // == : level 16 gives -0.0
}

static void test_q5_1_block(void **state) {
    (void)state;
    // d = 0.25 (0x3400), m = -2 (0xC000); both nibbles of qs[j] are j;
    // qh = 0F F0 00 FF: fifth bit on for elements 0-3, 12-15, 24-31.
    struct flm_block_q5_1 b = {.d = 0x3400, .m = 0xC000, .qh = {0x0F, 0xF0, 0x00, 0xFF}};
    for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | j << 4);
    static const float want[32] = {2,  2.25,  2.5,  2.75,  -1,   -0.75, -0.5, -0.25, 0,    0.25, 0.5,
                                   0.75, 5,   5.25, 5.5,   5.75, -2,    -1.75, -1.5, -1.25, -1,   -0.75,
                                   -0.5, -0.25, 4,  4.25,  4.5,  4.75,  5,     5.25, 5.5,  5.75};
    float y[32];
    flm_q5_1_dequantize_ref(&b, y, 32);
    assert_memory_equal(y, want, sizeof want);
}

static void test_q8_0_q8_1_blocks(void **state) {
    (void)state;
    // q8_0: d = 0.125 (0x3000), qs[j] = 8 j - 128, so x[j] = j - 16.
    struct flm_block_q8_0 b = {.d = 0x3000};
    for (int j = 0; j < 32; ++j) b.qs[j] = (int8_t)(8 * j - 128);
    float y[32];
    flm_q8_0_dequantize_ref(&b, y, 32);
    for (int j = 0; j < 32; ++j) assert_true(y[j] == (float)(j - 16));
    // q8_1: d = 1/16 (0x2C00), qs[j] = 31 - 2 j, so x[j] = (31 - 2 j) / 16.
    struct flm_block_q8_1 c = {.d = 0x2C00, .s = 0};
    for (int j = 0; j < 32; ++j) c.qs[j] = (int8_t)(31 - 2 * j);
    flm_q8_1_dequantize_ref(&c, y, 32);
    for (int j = 0; j < 32; ++j) assert_true(y[j] == (31 - 2 * j) / 16.0f);
}

// ---------------------------------------------------------------- activation quantizers

// A block whose amax is 127, so d = 1 and the multiplier is exactly 1 in
// both variants: levels are the rounded inputs, and the ties show the
// rounding rule. x = {127, 2.5, -2.5, 3.5, -0.5, 0.49, -127, j - 16 ...}.
static void tie_block(float *x) {
    for (int j = 0; j < 32; ++j) x[j] = (float)(j - 16);
    x[0] = 127, x[1] = 2.5f, x[2] = -2.5f, x[3] = 3.5f, x[4] = -0.5f, x[5] = 0.49f, x[6] = -127;
}

static void test_q8_0_quantize(void **state) {
    (void)state;
    float x[64];
    tie_block(x);
    memset(x + 32, 0, 32 * sizeof(float));  // an all-zero block: d = 0, no NaN
    struct flm_block_q8_0 b[2];
    // portable path: roundf, halves away from zero
    flm_q8_0_quantize_ref(x, b, 64);
    assert_int_equal(b[0].d, 0x3C00);  // f16(127 / 127) = 1
    static const int8_t want_ref[7] = {127, 3, -3, 4, -1, 0, -127};
    assert_memory_equal(b[0].qs, want_ref, 7);
    for (int j = 7; j < 32; ++j) assert_int_equal(b[0].qs[j], j - 16);
    assert_int_equal(b[1].d, 0);
    for (int j = 0; j < 32; ++j) assert_int_equal(b[1].qs[j], 0);
    // x86 path: halves to even
    flm_q8_0_quantize_x86_ref(x, b, 64);
    assert_int_equal(b[0].d, 0x3C00);
    static const int8_t want_x86[7] = {127, 2, -2, 4, 0, 0, -127};
    assert_memory_equal(b[0].qs, want_x86, 7);
    assert_int_equal(b[1].d, 0);
    // AArch64 path: the portable multiplier (here 1 as well), halves to even
    flm_q8_0_quantize_arm_ref(x, b, 64);
    assert_int_equal(b[0].d, 0x3C00);
    assert_memory_equal(b[0].qs, want_x86, 7);
    for (int j = 7; j < 32; ++j) assert_int_equal(b[0].qs[j], j - 16);
    assert_int_equal(b[1].d, 0);
    for (int j = 0; j < 32; ++j) assert_int_equal(b[1].qs[j], 0);
}

static void test_q8_1_quantize(void **state) {
    (void)state;
    float x[32];
    tie_block(x);
    struct flm_block_q8_1 b;
    // levels 127 3 -3 4 -1 0 -127, then -9..15: sum = 3 + (10 + ... + 15) = 78
    flm_q8_1_quantize_ref(x, &b, 32);
    assert_int_equal(b.d, 0x3C00);
    assert_int_equal(b.qs[1], 3);
    assert_true(flm_f16_to_f32(b.s) == 78.0f);
    // x86: levels 127 2 -2 4 0 0 -127 ...: sum = 79
    flm_q8_1_quantize_x86_ref(x, &b, 32);
    assert_int_equal(b.qs[1], 2);
    assert_true(flm_f16_to_f32(b.s) == 79.0f);
    flm_q8_1_quantize_arm_ref(x, &b, 32);  // AArch64: also halves to even
    assert_int_equal(b.d, 0x3C00);
    assert_int_equal(b.qs[1], 2);
    assert_true(flm_f16_to_f32(b.s) == 79.0f);
    // s is f16(d * sum) with the f32 d, not the f16-rounded one: amax 1
    // gives d = 1/127 (f32), and 32 copies of 1 give levels 127 and s =
    // f16(4064 * (1/127)) = f16(32.0000...) = 32.
    for (int j = 0; j < 32; ++j) x[j] = 1.0f;
    flm_q8_1_quantize_ref(x, &b, 32);
    assert_int_equal(b.qs[31], 127);
    assert_true(flm_f16_to_f32(b.s) == flm_f16_to_f32(flm_f32_to_f16(4064 * (1.0f / 127))));
}

// The x86 variant differs from the portable one only on rounding ties (and
// within an ulp of them), the AArch64 one only on exact ties: on random data
// the levels agree almost everywhere.
static void test_q8_0_variants_agree(void **state) {
    (void)state;
    enum { N = 32 * 256 };
    float x[N];
    uint64_t seed = 7;
    qt_fill(x, N, &seed, 1.0f);
    static struct flm_block_q8_0 a[N / 32], b[N / 32];
    flm_q8_0_quantize_ref(x, a, N);
    flm_q8_0_quantize_x86_ref(x, b, N);
    static struct flm_block_q8_0 c[N / 32];
    flm_q8_0_quantize_arm_ref(x, c, N);
    int n_diff = 0, n_diff_arm = 0;
    for (int i = 0; i < N / 32; ++i) {
        assert_int_equal(a[i].d, b[i].d);
        assert_int_equal(a[i].d, c[i].d);
        for (int j = 0; j < 32; ++j) {
            assert_true(abs(a[i].qs[j] - b[i].qs[j]) <= 1);
            assert_true(abs(a[i].qs[j] - c[i].qs[j]) <= 1);
            n_diff += a[i].qs[j] != b[i].qs[j];
            n_diff_arm += a[i].qs[j] != c[i].qs[j];
        }
    }
    assert_true(n_diff <= N / 1000);
    assert_true(n_diff_arm <= N / 1000);
}

// ---------------------------------------------------------------- weight quantizers

// Legacy quantizers put every element within one step of the grid (half a
// step when nothing is clipped): a per-element bound, checked on every block.
static void test_legacy_error_bounds(void **state) {
    (void)state;
    enum { N = 32 * 40 };
    float x[N], y[N];
    uint64_t seed = 11;
    qt_fill(x, N, &seed, 1.0f);
    static const enum flm_type types[] = {FLM_TYPE_Q4_0, FLM_TYPE_Q4_1, FLM_TYPE_Q5_0, FLM_TYPE_Q5_1, FLM_TYPE_Q8_0};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
        const struct flm_type_traits *tr = flm_quant_traits(types[t]);
        void *q = qt_alloc_row(types[t], N);
        tr->from_float(x, q, N);
        tr->to_float(q, y, N);
        for (int b = 0; b < N / 32; ++b) {
            float amax = 0, min = x[32 * b], max = x[32 * b];
            for (int j = 0; j < 32; ++j) {
                const float v = x[32 * b + j];
                amax = fmaxf(amax, fabsf(v)), min = fminf(min, v), max = fmaxf(max, v);
            }
            // step of the grid; symmetric formats may clip the far end by a full step
            float bound;
            switch (types[t]) {
            case FLM_TYPE_Q4_0: bound = amax / 8; break;
            case FLM_TYPE_Q5_0: bound = amax / 16; break;
            case FLM_TYPE_Q8_0: bound = amax / 127 * 0.5f; break;
            case FLM_TYPE_Q4_1: bound = (max - min) / 15 * 0.5f; break;
            default: bound = (max - min) / 31 * 0.5f; break;
            }
            bound = bound * 1.002f + amax * 1e-3f;  // f16 rounding of d and m
            for (int j = 0; j < 32; ++j) assert_true(fabsf(x[32 * b + j] - y[32 * b + j]) <= bound);
        }
        free(q);
    }
}

// Relative RMS error of quantize -> dequantize on random rows, per format.
// The bounds sit ~20% above the errors measured when they were set; a
// regression in the quantizers (or their packing) breaks them.
#define TOL_RT_Q4_0 0.150
#define TOL_RT_Q4_1 0.111
#define TOL_RT_Q5_0 0.077
#define TOL_RT_Q5_1 0.053
#define TOL_RT_Q8_0 0.0095
#define TOL_RT_Q8_1 0.0095

static void test_legacy_round_trip(void **state) {
    (void)state;
    const struct {
        enum flm_type t;
        double tol;
    } cases[] = {{FLM_TYPE_Q4_0, TOL_RT_Q4_0}, {FLM_TYPE_Q4_1, TOL_RT_Q4_1}, {FLM_TYPE_Q5_0, TOL_RT_Q5_0},
                 {FLM_TYPE_Q5_1, TOL_RT_Q5_1}, {FLM_TYPE_Q8_0, TOL_RT_Q8_0}, {FLM_TYPE_Q8_1, TOL_RT_Q8_1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        for (int64_t n = 32; n <= 32 * 65; n += 32 * 16) {
            const double err = qt_round_trip(cases[c].t, n, 1000 + (uint64_t)n);
            if (!(err <= cases[c].tol)) {
                print_error("type %d n %lld: round-trip error %.4f > %.4f\n", cases[c].t, (long long)n, err,
                            cases[c].tol);
                fail();
            }
        }
    }
}

// ---------------------------------------------------------------- dot products

#define TOL_DOT_LEGACY 1e-5  // float accumulation over <= 64 blocks, relative to sum |x y|

static void test_legacy_dots(void **state) {
    (void)state;
    static const enum flm_type types[] = {FLM_TYPE_Q4_0, FLM_TYPE_Q4_1, FLM_TYPE_Q5_0, FLM_TYPE_Q5_1, FLM_TYPE_Q8_0};
    static const int64_t sizes[] = {32, 96, 224, 32 * 13, 32 * 64};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            qt_check_dot(types[t], sizes[s], 77 + s, TOL_DOT_LEGACY);
        }
    }
}

// One block dotted by hand: the q4_0 block of test_q4_0_block (levels j - 8
// and 7 - j, d = 0.5) against q8_0 levels y_i = i with d = 0.25.
static void test_q4_0_dot_by_hand(void **state) {
    (void)state;
    struct flm_block_q4_0 x = {.d = 0x3800};
    for (int j = 0; j < 16; ++j) x.qs[j] = (uint8_t)(j | (15 - j) << 4);
    struct flm_block_q8_0 y = {.d = 0x3400};  // 0.25
    for (int j = 0; j < 32; ++j) y.qs[j] = (int8_t)j;
    // sum_{j<16} (j - 8) j = 1240 - 8 * 120 = 280
    // sum_{j<16} (7 - j)(16 + j) = sum 112 + 7j - 16j - j^2 = 1792 - 9 * 120 - 1240 = -528
    // sumi = -248; dot = -248 * 0.5 * 0.25 = -31
    float s = 0;
    flm_q4_0_vec_dot_ref(32, &s, &x, &y);
    assert_true(s == -31.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_block),
        cmocka_unit_test(test_q4_1_block),
        cmocka_unit_test(test_q5_0_block),
        cmocka_unit_test(test_q5_1_block),
        cmocka_unit_test(test_q8_0_q8_1_blocks),
        cmocka_unit_test(test_q8_0_quantize),
        cmocka_unit_test(test_q8_1_quantize),
        cmocka_unit_test(test_q8_0_variants_agree),
        cmocka_unit_test(test_legacy_error_bounds),
        cmocka_unit_test(test_legacy_round_trip),
        cmocka_unit_test(test_legacy_dots),
        cmocka_unit_test(test_q4_0_dot_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
