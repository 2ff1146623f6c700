// float_test.c - F32, F16 and BF16 rows: bit-exact conversions (round to
// nearest even, subnormals) and dot products summed in double.
#include "quant_test_util.h"

static void test_f16_convert(void **state) {
    (void)state;
    static const uint16_t h[] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x3555};
    static const float want[] = {1.0f, -2.0f, 0x1p-24f, 65504.0f, -0.0f, 0x1.554p-2f};
    float y[6];
    flm_f16_dequantize_ref(h, y, 6);
    assert_memory_equal(y, want, sizeof want);
    // ties round to even: 1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9
    const float x[] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 65520.0f, -0x1p-25f};
    uint16_t q[4];
    flm_f16_quantize_ref(x, q, 4);
    assert_int_equal(q[0], 0x3C00);
    assert_int_equal(q[1], 0x3C02);
    assert_int_equal(q[2], 0x7C00);  // 65520 rounds up to infinity
    assert_int_equal(q[3], 0x8000);  // half the smallest subnormal, tie to even: -0
}

static void test_bf16_convert(void **state) {
    (void)state;
    static const uint16_t h[] = {0x3F80, 0xC000, 0x0001, 0x7F7F};
    static const float want[] = {1.0f, -2.0f, 0x1p-133f, 0x1.fep127f};
    float y[4];
    flm_bf16_dequantize_ref(h, y, 4);
    assert_memory_equal(y, want, sizeof want);
    const float x[] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -3.0f};
    uint16_t q[3];
    flm_bf16_quantize_ref(x, q, 3);
    assert_int_equal(q[0], 0x3F80);
    assert_int_equal(q[1], 0x3F82);
    assert_int_equal(q[2], 0xC040);
}

static void test_f32_copy(void **state) {
    (void)state;
    const float x[3] = {1.5f, -0.0f, 3e-39f};
    float a[3], b[3];
    flm_f32_quantize_ref(x, a, 3);
    flm_f32_dequantize_ref(a, b, 3);
    assert_memory_equal(b, x, sizeof x);
}

// Sums that float accumulation gets wrong and double accumulation gets right:
// big + 1 - big.
static void test_dots_accumulate_in_double(void **state) {
    (void)state;
    const float xf[3] = {1e8f, 1.0f, -1e8f}, yf[3] = {1.0f, 1.0f, 1.0f};
    float s = 0;
    flm_f32_vec_dot_ref(3, &s, xf, yf);
    assert_true(s == 1.0f);
    // f16: 65504^2 + 1 - 65504^2 (each product exact in float)
    const uint16_t xh[3] = {0x7BFF, 0x3C00, 0xFBFF}, yh[3] = {0x7BFF, 0x3C00, 0x7BFF};
    flm_f16_vec_dot_ref(3, &s, xh, yh);
    assert_true(s == 1.0f);
    // bf16: 2^20 * 2^20 + 1 - 2^40
    const uint16_t xb[3] = {0x4980, 0x3F80, 0xC980}, yb[3] = {0x4980, 0x3F80, 0x4980};
    flm_bf16_vec_dot_ref(3, &s, xb, yb);
    assert_true(s == 1.0f);
}

// Random rows of awkward lengths against the double dot of the decoded values.
static void test_dots_random(void **state) {
    (void)state;
    static const int64_t sizes[] = {1, 7, 33, 255, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
        const int64_t n = sizes[k];
        float x[1000], y[1000], xd[1000], yd[1000];
        uint16_t xh[1000], yh[1000];
        uint64_t seed = 5 + (uint64_t)k;
        qt_fill(x, n, &seed, 1.0f);
        qt_fill(y, n, &seed, 1.0f);
        double ref = 0, mag = 0;
        float s;
        // f32: the float products summed in double, rounded once
        for (int64_t i = 0; i < n; ++i) ref += (double)(x[i] * y[i]);
        flm_f32_vec_dot_ref(n, &s, x, y);
        assert_true(s == (float)ref);
        // f16 and bf16: decoded products are exact
        for (int pass = 0; pass < 2; ++pass) {
            (pass ? flm_bf16_quantize_ref : flm_f16_quantize_ref)(x, xh, n);
            (pass ? flm_bf16_quantize_ref : flm_f16_quantize_ref)(y, yh, n);
            (pass ? flm_bf16_dequantize_ref : flm_f16_dequantize_ref)(xh, xd, n);
            (pass ? flm_bf16_dequantize_ref : flm_f16_dequantize_ref)(yh, yd, n);
            ref = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) ref += (double)xd[i] * yd[i], mag += fabs((double)xd[i] * yd[i]);
            (pass ? flm_bf16_vec_dot_ref : flm_f16_vec_dot_ref)(n, &s, xh, yh);
            assert_true(s == (float)ref);
            // and the conversion error is at most half an ulp: 2^-8 (bf16), 2^-11 (f16) relative
            for (int64_t i = 0; i < n; ++i) {
                if (!(fabsf(xd[i] - x[i]) <= fabsf(x[i]) * (pass ? 0x1p-8f : 0x1p-11f) + 0x1p-25f)) {
                    print_error("pass %d: %.9g -> %.9g\n", pass, x[i], xd[i]);
                    fail();
                }
            }
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_convert),
        cmocka_unit_test(test_bf16_convert),
        cmocka_unit_test(test_f32_copy),
        cmocka_unit_test(test_dots_accumulate_in_double),
        cmocka_unit_test(test_dots_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
