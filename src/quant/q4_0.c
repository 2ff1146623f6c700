// q4_0.c - Q4_0 oracle: 32 elements per block, x = (q - 8) * d with 4-bit q
// and an f16 scale d. Paired with Q8_0 activations in dot products.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

void flm_q4_0_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK4_0 == 0);
    const struct flm_block_q4_0 *x = vx;
    for (int64_t i = 0; i < k / FLM_QK4_0; ++i, y += FLM_QK4_0) {
        const float d = flm_f16_to_f32(x[i].d);
        for (int j = 0; j < FLM_QK4_0 / 2; ++j) {
            y[j] = ((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// The element of largest magnitude is mapped to -8, the end of [-8, 7] that
// has room for it, so d carries that element's sign.
void flm_q4_0_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK4_0 == 0);
    struct flm_block_q4_0 *y = vy;
    for (int64_t i = 0; i < k / FLM_QK4_0; ++i, x += FLM_QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < FLM_QK4_0; ++j) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = flm_f32_to_f16(d);
        for (int j = 0; j < FLM_QK4_0 / 2; ++j) {
            const int q0 = flm_trunc_level(x[j] * id + 8.5f, 15);
            const int q1 = flm_trunc_level(x[j + 16] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void flm_q4_0_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q4_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < FLM_QK8_0 / 2; ++j) {
            sumi0 += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            sumi1 += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sumf += (sumi0 + sumi1) * flm_f16_to_f32(x[i].d) * flm_f16_to_f32(y[i].d);
    }
    *s = sumf;
}
