// q5_1.c - Q5_1 oracle: 32 elements per block, x = q * d + m with 5-bit q
// packed as in q5_0, f16 scale d and f16 minimum m. Paired with Q8_1.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

#include <float.h>

static int q5_level(const uint8_t *qs, uint32_t qh, int j) {
    const int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1) << 4);
}

static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void flm_q5_1_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK5_1 == 0);
    const struct flm_block_q5_1 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK5_1; ++i, y += FLM_QK5_1) {
        const float d = flm_f16_to_f32(x[i].d);
        const float m = flm_f16_to_f32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < FLM_QK5_1; ++j) y[j] = q5_level(x[i].qs, qh, j) * d + m;
    }
}

// [min, max] of the block is cut into 31 steps.
void flm_q5_1_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK5_1 == 0);
    struct flm_block_q5_1 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK5_1; ++i, x += FLM_QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < FLM_QK5_1; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        y[i].m = flm_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < FLM_QK5_1 / 2; ++j) {
            const int q0 = flm_trunc_level((x[j] - min) * id + 0.5f, 31);
            const int q1 = flm_trunc_level((x[j + 16] - min) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int b = 0; b < 4; ++b) y[i].qh[b] = (uint8_t)(qh >> (8 * b));
    }
}

void flm_q5_1_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_1 == 0);
    const struct flm_block_q5_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_1; ++i) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < FLM_QK8_1; ++j) sumi += q5_level(x[i].qs, qh, j) * y[i].qs[j];
        const float dxdy = flm_f16_to_f32(x[i].d) * flm_f16_to_f32(y[i].d);
        sumf += dxdy * sumi + flm_f16_to_f32(x[i].m) * flm_f16_to_f32(y[i].s);
    }
    *s = sumf;
}
