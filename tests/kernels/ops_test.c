// ops_test.c - the row operations against values computed independently
// (in double, straight from the definitions) on awkward sizes.
#include "test_util.h"

#include "core/fp16.h"
#include "kernels/ops.h"

#include <math.h>

static void test_rmsnorm(void **state) {
    (void)state;
    uint64_t seed = 7;
    const int sizes[] = {1, 3, 64, 577};
    for (size_t s = 0; s < 4; s++) {
        const int n = sizes[s];
        float x[577], w[577], y[577];
        double ss = 0;
        for (int i = 0; i < n; i++) {
            x[i] = flm_test_randf(&seed) * 3;
            w[i] = flm_test_randf(&seed);
            ss += (double)x[i] * x[i];
        }
        flm_rmsnorm(y, x, w, n, 1e-5f);
        const double r = 1.0 / sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; i++) assert_float_equal(y[i], x[i] * r * w[i], 1e-5 * (1 + fabs(x[i] * r)));
        flm_rmsnorm(x, x, NULL, n, 1e-5f);  // in place, no weight
        for (int i = 0; i < n; i++) assert_float_equal(x[i], y[i] / w[i], 1e-3 * (1 + fabs(x[i])));
    }
}

// RoPE: rotating by pos then the inverse angle restores the vector, and one
// pair is checked against the closed form.
static void test_rope(void **state) {
    (void)state;
    const int hd = 8, nh = 2;
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = (float)(i + 1);
    for (int kind = 0; kind <= 2; kind += 2) {
        for (int i = 0; i < 16; i++) y[i] = x[i];
        flm_rope(y, nh, hd, hd, 5, 10000.0f, 1.0f, (enum flm_rope_kind)kind);
        // pair 1 has theta = 5 * 10000^(-2/8)
        const double th = 5.0 * pow(10000.0, -2.0 / 8.0);
        const int a = kind == FLM_ROPE_NEOX ? 1 : 2, b = kind == FLM_ROPE_NEOX ? 1 + hd / 2 : 3;
        assert_float_equal(y[a], x[a] * cos(th) - x[b] * sin(th), 1e-4);
        assert_float_equal(y[b], x[a] * sin(th) + x[b] * cos(th), 1e-4);
        // pair 0 rotates by exactly pos radians
        const int a0 = 0, b0 = kind == FLM_ROPE_NEOX ? hd / 2 : 1;
        assert_float_equal(y[a0], x[a0] * cos(5.0) - x[b0] * sin(5.0), 1e-4);
        // norms are preserved per head
        for (int h = 0; h < nh; h++) {
            double n0 = 0, n1 = 0;
            for (int i = 0; i < hd; i++) {
                n0 += x[h * hd + i] * x[h * hd + i];
                n1 += y[h * hd + i] * y[h * hd + i];
            }
            assert_float_equal(n0, n1, 1e-3);
        }
    }
    // position 0 is the identity
    for (int i = 0; i < 16; i++) y[i] = x[i];
    flm_rope(y, nh, hd, 6, 0, 10000.0f, 1.0f, FLM_ROPE_NEOX);
    for (int i = 0; i < 16; i++) assert_float_equal(y[i], x[i], 0);
}

static void test_geglu_swiglu(void **state) {
    (void)state;
    const float xs[] = {-12.0f, -3.0f, -0.5f, 0.0f, 0.1f, 1.0f, 2.5f, 9.9f, 12.0f};
    const int n = (int)(sizeof xs / sizeof xs[0]);
    float g[9], y[9], z[9];
    for (int i = 0; i < n; i++) g[i] = 0.5f + (float)i;
    flm_geglu(y, xs, g, n);
    flm_swiglu(z, xs, g, n);
    for (int i = 0; i < n; i++) {
        const double x = xs[i];
        const double gelu = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        // GELU goes through half precision (about 3 decimal digits)
        assert_float_equal(y[i], gelu * g[i], 2e-3 * (fabs(gelu * g[i]) + 1e-2));
        assert_float_equal(z[i], x / (1 + exp(-x)) * g[i], 1e-5 * (fabs(x * g[i]) + 1));
    }
}

// the table GELU carries the computed one's bits for every half input
static void test_geglu_table(void **state) {
    (void)state;
    static uint16_t table[65536];
    static float x[65536], g[65536], y1[65536], y2[65536];
    flm_gelu_table_fill(table);
    for (uint32_t i = 0; i < 65536; i++) {
        x[i] = flm_f16_to_f32((uint16_t)i);
        if (isnan(x[i])) x[i] = 0;
        g[i] = 1.0f + (float)(i % 7);
    }
    x[0] = 10.5f, x[1] = -10.5f, x[2] = 1e-30f;  // outside the table's range and below half precision
    flm_geglu(y1, x, g, 65536);
    flm_geglu_table(y2, x, g, 65536, table);
    assert_memory_equal(y1, y2, sizeof y1);
}

// every swiglu variant carries the reference's bits, on random rows of
// awkward lengths and on the exponential's edges (overflow, underflow, inf)
static void test_swiglu_variants(void **state) {
    (void)state;
    static float x[1000], g[1000], y1[1000], y2[1000];
    uint64_t seed = 5;
    for (int i = 0; i < 1000; i++) {
        x[i] = flm_test_randf(&seed) * (i % 7 == 0 ? 200.0f : 12.0f);
        g[i] = flm_test_randf(&seed);
    }
    x[3] = INFINITY, x[5] = -INFINITY, x[17] = 89.0f, x[18] = -104.0f, x[19] = 0.0f, x[20] = -0.0f;
    const int lens[] = {1, 15, 16, 17, 1000};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        flm_swiglu_ref(y1, x, g, lens[k]);
        flm_swiglu(y2, x, g, lens[k]);
        assert_memory_equal(y1, y2, sizeof(float) * (size_t)lens[k]);
    }
}

static void test_softmax(void **state) {
    (void)state;
    float x[5] = {1000.0f, 999.0f, -1.0f, 1000.0f, -INFINITY};
    flm_softmax(x, 5);
    const double z = 2 + exp(-1.0) + exp(-1001.0);
    assert_float_equal(x[0], 1 / z, 1e-6);
    assert_float_equal(x[1], exp(-1.0) / z, 1e-6);
    assert_float_equal(x[4], 0.0, 0);
    float one = 3.0f;
    flm_softmax(&one, 1);
    assert_float_equal(one, 1.0f, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_geglu_swiglu),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_swiglu_variants),
        cmocka_unit_test(test_geglu_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
