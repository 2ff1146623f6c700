// qround.h - the float -> integer level conversions of the quantizers,
// internal to src/quant. Each rounds exactly like the ggml code it stands for
// on every finite input in range, and stays defined (no UB) on NaN or
// out-of-range inputs, which it clamps.
#ifndef FLM_QUANT_QROUND_H
#define FLM_QUANT_QROUND_H

#include <math.h>
#include <stdint.h>
#include <string.h>

// The oracles' float expressions must round exactly as written (no fused
// multiply-add), so that results are bit-identical on every compiler. GCC
// never contracts in ISO C mode (-std=c11); clang needs to be told.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

// Round to nearest, halves to even, as ggml's K-quant code does: adding
// 1.5 * 2^23 pushes the fraction out of the mantissa, the FPU rounds, and the
// low mantissa bits hold the integer. Exact for |f| < 2^22; larger inputs
// (and NaN) are clamped first.
static inline int flm_nearest_int(float f) {
    if (!(f > -4194303.f)) f = -4194303.f;  // also catches NaN
    if (f > 4194303.f) f = 4194303.f;
    float v = f + 12582912.f;
    int32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

// Truncation toward zero of a value expected in [0, hi + 1), clamped to
// [0, hi]: the legacy quantizers' "(int)(v + 0.5)" half-up rounding.
static inline int flm_trunc_level(float v, int hi) {
    if (!(v >= 0)) return 0;  // also NaN
    if (v >= (float)hi) return hi;
    return (int)v;
}

// roundf (halves away from zero) clamped to int8, as ggml's q8_0/q8_1
// reference quantizers store roundf(x * id) into an int8.
static inline int8_t flm_round_i8(float v) {
    if (!(v > -128.f)) return v != v ? 0 : -128;
    if (v > 127.f) return 127;
    return (int8_t)roundf(v);
}

// Round to nearest, halves to even (the default FPU mode, as _mm256_round_ps
// with _MM_ROUND_NEAREST and vcvtnq_s32_f32 do), clamped to int8 the way the
// SIMD pack instructions saturate.
static inline int8_t flm_round_even_i8(float v) {
    if (!(v > -128.f)) return v != v ? 0 : -128;
    if (v > 127.f) return 127;
    return (int8_t)flm_nearest_int(v);
}

#endif
