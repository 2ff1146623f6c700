// fp16.h - IEEE half and bfloat16 conversions, bit-exact, no tables.
#ifndef FLM_CORE_FP16_H
#define FLM_CORE_FP16_H

#include <stdint.h>
#include <string.h>

static inline float flm_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t flm_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// Half -> float, exact for every input including subnormals, inf and NaN.
static inline float flm_f16_to_f32(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float exp_scale = flm_bits_to_f32(0x7800000u);  // 2^-112
    const float normalized = flm_bits_to_f32((two_w >> 4) + (0xE0u << 23)) * exp_scale;
    const float denormalized = flm_bits_to_f32((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t result = sign | (two_w < (1u << 27) ? flm_f32_to_bits(denormalized)
                                                       : flm_f32_to_bits(normalized));
    return flm_bits_to_f32(result);
}

// Float -> half with round-to-nearest-even (the same as the hardware F16C).
static inline uint16_t flm_f32_to_f16(float f) {
    const float scale_to_inf = flm_bits_to_f32(0x77800000u);   // 2^112
    const float scale_to_zero = flm_bits_to_f32(0x08800000u);  // 2^-110
    float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;
    const uint32_t w = flm_f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = flm_bits_to_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = flm_f32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float flm_bf16_to_f32(uint16_t h) { return flm_bits_to_f32((uint32_t)h << 16); }

// Float -> bfloat16, round-to-nearest-even; NaN stays a quiet NaN.
static inline uint16_t flm_f32_to_bf16(float f) {
    uint32_t u = flm_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

#endif
