// q8_0.c - Q8_0 oracle: 32 elements per block, x = q * d with int8 q and an
// f16 scale d. It is both a weight format (dotted with Q8_0) and the
// activation format of q4_0, q5_0 and q8_0 weights.
//
// The activation quantizer must match llama.cpp bit for bit, since the
// integer dot products only agree when both sides hold the same int8 levels.
// flm_q8_0_quantize_ref is ggml's portable path: d = amax / 127, multiplier
// 1 / d, roundf (halves away from zero). flm_q8_0_quantize_x86_ref is what
// llama.cpp's AVX/AVX2 build computes instead: multiplier 127 / amax and
// rounding halves to even.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

static float block_amax(const float *x) {
    float amax = 0;
    for (int j = 0; j < FLM_QK8_0; ++j) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

void flm_q8_0_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK8_0; ++i, y += FLM_QK8_0) {
        const float d = flm_f16_to_f32(x[i].d);
        for (int j = 0; j < FLM_QK8_0; ++j) y[j] = x[i].qs[j] * d;
    }
}

void flm_q8_0_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_0 == 0);
    struct flm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_0; ++i, x += FLM_QK8_0) {
        const float d = block_amax(x) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        for (int j = 0; j < FLM_QK8_0; ++j) y[i].qs[j] = flm_round_i8(x[j] * id);
    }
}

void flm_q8_0_quantize_x86_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_0 == 0);
    struct flm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_0; ++i, x += FLM_QK8_0) {
        const float amax = block_amax(x);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = flm_f32_to_f16(amax / 127.f);
        for (int j = 0; j < FLM_QK8_0; ++j) y[i].qs[j] = flm_round_even_i8(x[j] * id);
    }
}

void flm_q8_0_quantize_arm_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_0 == 0);
    struct flm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_0; ++i, x += FLM_QK8_0) {
        const float d = block_amax(x) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        for (int j = 0; j < FLM_QK8_0; ++j) y[i].qs[j] = flm_round_even_i8(x[j] * id);
    }
}

void flm_q8_0_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        int sumi = 0;
        for (int j = 0; j < FLM_QK8_0; ++j) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (flm_f16_to_f32(x[i].d) * flm_f16_to_f32(y[i].d));
    }
    *s = sumf;
}
