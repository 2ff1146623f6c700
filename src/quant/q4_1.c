// q4_1.c - Q4_1 oracle: 32 elements per block, x = q * d + m with 4-bit q,
// f16 scale d and f16 minimum m. Paired with Q8_1 activations, whose block
// sum s lets the minimum be applied once per block: dot = d dy sumi + m s.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

#include <float.h>

void flm_q4_1_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK4_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK4_1; ++i, y += FLM_QK4_1) {
        const float d = flm_f16_to_f32(x[i].d);
        const float m = flm_f16_to_f32(x[i].m);
        for (int j = 0; j < FLM_QK4_1 / 2; ++j) {
            y[j] = (x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

// [min, max] of the block is cut into 15 steps.
void flm_q4_1_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK4_1 == 0);
    struct flm_block_q4_1 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK4_1; ++i, x += FLM_QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < FLM_QK4_1; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        y[i].m = flm_f32_to_f16(min);
        for (int j = 0; j < FLM_QK4_1 / 2; ++j) {
            const int q0 = flm_trunc_level((x[j] - min) * id + 0.5f, 15);
            const int q1 = flm_trunc_level((x[j + 16] - min) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void flm_q4_1_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_1; ++i) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < FLM_QK8_1 / 2; ++j) {
            sumi0 += (x[i].qs[j] & 0xF) * y[i].qs[j];
            sumi1 += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        const float dxdy = flm_f16_to_f32(x[i].d) * flm_f16_to_f32(y[i].d);
        sumf += dxdy * (sumi0 + sumi1) + flm_f16_to_f32(x[i].m) * flm_f16_to_f32(y[i].s);
    }
    *s = sumf;
}
