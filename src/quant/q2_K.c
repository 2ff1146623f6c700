// q2_K.c - Q2_K oracle: 256-element super-blocks of 16 groups of 16. Each
// group has a 4-bit scale and a 4-bit min (scales[g], low and high nibble):
// x = d * sc * q - dmin * mn with 2-bit q. Layout in quant/blocks.h. Paired
// with Q8_K activations, whose bsums carry the mins: dot = d dy sum(sc q y)
// - dmin dy sum(mn bsum).
#include "core/fp16.h"
#include "core/status.h"
#include "quant/kquant.h"
#include "quant/quant.h"

#include <math.h>

// The 2-bit level of every element of a block.
static void q2_levels(const struct flm_block_q2_K *b, uint8_t *q) {
    for (int e = 0; e < FLM_QK_K; ++e) q[e] = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < FLM_QK_K; h += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[h / 4 + l] = (uint8_t)(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
        }
    }
}

void flm_q2_K_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    const struct flm_block_q2_K *x = vx;
    uint8_t q[FLM_QK_K];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, y += FLM_QK_K) {
        const float d = flm_f16_to_f32(x[i].d);
        const float dmin = flm_f16_to_f32(x[i].dmin);
        q2_levels(&x[i], q);
        for (int e = 0; e < FLM_QK_K; ++e) {
            const uint8_t sc = x[i].scales[e / 16];
            const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            y[e] = dl * q[e] - ml;
        }
    }
}

// Per group an affine fit (|x|-weighted, absolute error); then the group
// scales and mins are themselves quantized to 4 bits against their maxima,
// and the levels recomputed with the rounded scales.
void flm_q2_K_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    struct flm_block_q2_K *y = vy;
    uint8_t L[FLM_QK_K], Laux[16];
    float w[16], scales[FLM_QK_K / 16], mins[FLM_QK_K / 16];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, x += FLM_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            for (int l = 0; l < 16; ++l) w[l] = fabsf(x[16 * g + l]);
            scales[g] = flm_kq_fit_affine(16, 3, x + 16 * g, w, L + 16 * g, Laux, &mins[g], -0.5f, 0.1f, 15, true);
            if (scales[g] > max_scale) max_scale = scales[g];
            if (mins[g] > max_min) max_min = mins[g];
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        y[i].d = flm_f32_to_f16(max_scale > 0 ? max_scale / 15.f : 0.f);
        y[i].dmin = flm_f32_to_f16(max_min > 0 ? max_min / 15.f : 0.f);
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            const int ls = max_scale > 0 ? flm_nearest_int(15.f / max_scale * scales[g]) : 0;
            const int lm = max_min > 0 ? flm_nearest_int(15.f / max_min * mins[g]) : 0;
            y[i].scales[g] = (uint8_t)((ls < 0 ? 0 : ls > 15 ? 15 : ls) | (lm < 0 ? 0 : lm > 15 ? 15 : lm) << 4);
        }
        const float dd = flm_f16_to_f32(y[i].d), dm = flm_f16_to_f32(y[i].dmin);
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            const float d = dd * (y[i].scales[g] & 0xF);
            if (!d) continue;  // keep the fitted levels: they multiply 0 anyway
            const float m = dm * (y[i].scales[g] >> 4);
            for (int l = 0; l < 16; ++l) {
                const int q = flm_nearest_int((x[16 * g + l] + m) / d);
                L[16 * g + l] = (uint8_t)(q < 0 ? 0 : q > 3 ? 3 : q);
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

void flm_q2_K_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q2_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    uint8_t q[FLM_QK_K];
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        q2_levels(&x[i], q);
        int summs = 0, isum = 0;
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            summs += y[i].bsums[g] * (x[i].scales[g] >> 4);
            int isuml = 0;
            for (int e = 16 * g; e < 16 * g + 16; ++e) isuml += y[i].qs[e] * q[e];
            isum += (x[i].scales[g] & 0xF) * isuml;
        }
        const float dall = y[i].d * flm_f16_to_f32(x[i].d);
        const float dmin = y[i].d * flm_f16_to_f32(x[i].dmin);
        sumf += dall * isum - dmin * summs;
    }
    *s = sumf;
}
