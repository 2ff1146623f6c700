// q5_0.c - Q5_0 oracle: 32 elements per block, x = (q - 16) * d with 5-bit q
// (low nibble in qs as in q4_0, fifth bit i of qh for element i) and an f16
// scale d. Paired with Q8_0 activations in dot products.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

// The 5-bit level of element j (0..31) of block b.
static int q5_level(const uint8_t *qs, uint32_t qh, int j) {
    const int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1) << 4);
}

static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void flm_q5_0_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK5_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK5_0; ++i, y += FLM_QK5_0) {
        const float d = flm_f16_to_f32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < FLM_QK5_0; ++j) y[j] = (q5_level(x[i].qs, qh, j) - 16) * d;
    }
}

// As q4_0 with 32 levels: the largest-magnitude element maps to -16.
void flm_q5_0_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK5_0 == 0);
    struct flm_block_q5_0 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK5_0; ++i, x += FLM_QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < FLM_QK5_0; ++j) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < FLM_QK5_0 / 2; ++j) {
            const int q0 = flm_trunc_level(x[j] * id + 16.5f, 31);
            const int q1 = flm_trunc_level(x[j + 16] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (int b = 0; b < 4; ++b) y[i].qh[b] = (uint8_t)(qh >> (8 * b));
    }
}

void flm_q5_0_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < FLM_QK8_0; ++j) sumi += (q5_level(x[i].qs, qh, j) - 16) * y[i].qs[j];
        sumf += (flm_f16_to_f32(x[i].d) * flm_f16_to_f32(y[i].d)) * sumi;
    }
    *s = sumf;
}
