// quant_test_util.h - helpers shared by the tests of src/quant: random rows,
// and the generic checks every format goes through (round trip, dot product).
#ifndef FLM_TESTS_QUANT_UTIL_H
#define FLM_TESTS_QUANT_UTIL_H

#include "test_util.h"

#include "core/fp16.h"
#include "core/types.h"
#include "quant/blocks.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

// Gaussian-ish row (sum of 4 uniforms), scaled; every 37th element is an
// outlier 4x larger, as real weights and activations have.
static inline void qt_fill(float *x, int64_t n, uint64_t *seed, float scale) {
    for (int64_t i = 0; i < n; ++i) {
        float v = 0;
        for (int r = 0; r < 4; ++r) v += flm_test_randf(seed);
        x[i] = v * 0.5f * scale * (i % 37 == 5 ? 4.0f : 1.0f);
    }
}

static inline void *qt_alloc_row(enum flm_type t, int64_t n) {
    const size_t size = flm_type_row_size(t, n);
    void *p = calloc(1, size ? size : 1);
    assert_non_null(p);
    return p;
}

// Root mean square of x - y relative to the root mean square of x.
static inline double qt_rel_rmse(const float *x, const float *y, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) {
        e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        s += (double)x[i] * x[i];
    }
    return s > 0 ? sqrt(e / s) : sqrt(e / (double)n);
}

// Quantizes a random row of type t, dequantizes it back and returns the
// relative RMS error (what the per-format tolerances bound).
static inline double qt_round_trip(enum flm_type t, int64_t n, uint64_t seed) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    assert_non_null(tr);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    void *q = qt_alloc_row(t, n);
    assert_true(x && y);
    qt_fill(x, n, &seed, 0.05f);
    tr->from_float(x, q, n);
    tr->to_float(q, y, n);
    const double err = qt_rel_rmse(x, y, n);
    free(x), free(y), free(q);
    return err;
}

// Checks vec_dot(x, y) of type t against the double-precision dot of the
// dequantized rows: x quantized to t, y quantized to t's vec_dot_type.
// The tolerance is rel_tol * sum |x_i y_i| (float accumulation), plus, for
// Q8_1 activations, the f16 rounding of each block's stored sum s (the dot
// uses s where the dequantized row implies d * sum(q)).
static inline void qt_check_dot(enum flm_type t, int64_t n, uint64_t seed, double rel_tol) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    assert_non_null(tr);
    assert_non_null(tr->vec_dot);
    const struct flm_type_traits *ty = flm_quant_traits(tr->vec_dot_type);
    assert_non_null(ty);
    float *xf = malloc((size_t)n * sizeof(float)), *yf = malloc((size_t)n * sizeof(float));
    float *xd = malloc((size_t)n * sizeof(float)), *yd = malloc((size_t)n * sizeof(float));
    assert_true(xf && yf && xd && yd);
    void *xq = qt_alloc_row(t, n), *yq = qt_alloc_row(tr->vec_dot_type, n);
    qt_fill(xf, n, &seed, 0.05f);
    qt_fill(yf, n, &seed, 3.0f);
    tr->from_float(xf, xq, n);
    ty->from_float(yf, yq, n);
    tr->to_float(xq, xd, n);
    ty->to_float(yq, yd, n);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
        ref += (double)xd[i] * yd[i];
        mag += fabs((double)xd[i] * yd[i]);
    }
    double tol = rel_tol * mag + 1e-30;
    if (tr->vec_dot_type == FLM_TYPE_Q8_1) {
        const struct flm_block_q8_1 *yb = yq;
        for (int64_t b = 0; b < n / FLM_QK8_1; ++b) {
            const float m = flm_f16_to_f32(t == FLM_TYPE_Q4_1 ? ((const struct flm_block_q4_1 *)xq)[b].m
                                                              : ((const struct flm_block_q5_1 *)xq)[b].m);
            tol += fabs((double)m * flm_f16_to_f32(yb[b].s)) * (1.0 / 2048);
        }
    }
    float s = NAN;
    tr->vec_dot(n, &s, xq, yq);
    if (!(fabs(s - ref) <= tol)) {
        print_error("type %d n %lld: vec_dot %.9g, reference %.9g, |diff| %.3g > tol %.3g\n", (int)t, (long long)n,
                    s, ref, fabs(s - ref), tol);
        fail();
    }
    free(xf), free(yf), free(xd), free(yd), free(xq), free(yq);
}

// Asserts y[i] == want[i] for the listed elements (exact float equality).
static inline void qt_expect_at(const float *y, const int *idx, const float *want, int n, const char *what) {
    for (int i = 0; i < n; ++i) {
        if (y[idx[i]] != want[i]) {
            print_error("%s: element %d is %.9g, want %.9g\n", what, idx[i], y[idx[i]], want[i]);
            fail();
        }
    }
}

#endif
