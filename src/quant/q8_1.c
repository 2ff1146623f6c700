// q8_1.c - Q8_1 oracle: the activation format of q4_1 and q5_1 weights.
// 32 elements per block, x = q * d, plus s = d * sum(q) stored as f16 so the
// weight's minimum m contributes m * s per block. Quantized exactly as
// llama.cpp does (see q8_0.c for the portable and x86 variants); s is computed
// from the quantized integers: f16(d * sum(q)), with d the unrounded f32 scale.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

static float block_amax(const float *x) {
    float amax = 0;
    for (int j = 0; j < FLM_QK8_1; ++j) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

void flm_q8_1_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_1 == 0);
    const struct flm_block_q8_1 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK8_1; ++i, y += FLM_QK8_1) {
        const float d = flm_f16_to_f32(x[i].d);
        for (int j = 0; j < FLM_QK8_1; ++j) y[j] = x[i].qs[j] * d;
    }
}

void flm_q8_1_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_1 == 0);
    struct flm_block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_1; ++i, x += FLM_QK8_1) {
        const float d = block_amax(x) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < FLM_QK8_1; ++j) {
            y[i].qs[j] = flm_round_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = flm_f32_to_f16(d);
        y[i].s = flm_f32_to_f16(sum * d);
    }
}

void flm_q8_1_quantize_arm_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_1 == 0);
    struct flm_block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_1; ++i, x += FLM_QK8_1) {
        const float d = block_amax(x) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < FLM_QK8_1; ++j) {
            y[i].qs[j] = flm_round_even_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = flm_f32_to_f16(d);
        y[i].s = flm_f32_to_f16(d * sum);
    }
}

void flm_q8_1_quantize_x86_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK8_1 == 0);
    struct flm_block_q8_1 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK8_1; ++i, x += FLM_QK8_1) {
        const float amax = block_amax(x);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < FLM_QK8_1; ++j) {
            y[i].qs[j] = flm_round_even_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = flm_f32_to_f16(d);
        y[i].s = flm_f32_to_f16(d * sum);
    }
}
