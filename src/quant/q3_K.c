// q3_K.c - Q3_K oracle: 256-element super-blocks of 16 groups of 16, each
// with a signed 6-bit scale (stored + 32): x = d * (s - 32) * q with 3-bit
// signed q in [-4, 3] (2 low bits in qs, the third in hmask, a clear bit
// meaning -4). Layout in quant/blocks.h. Paired with Q8_K activations.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/kquant.h"
#include "quant/quant.h"

#include <math.h>

// Signed levels in [-4, 3] and the signed scales of a block.
static void q3_decode(const struct flm_block_q3_K *b, int8_t *q, int *scale16) {
    for (int e = 0; e < FLM_QK_K; ++e) {
        const int lo = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const int hi = (b->hmask[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(lo - (hi ? 0 : 4));
    }
    for (int g = 0; g < FLM_QK_K / 16; ++g) scale16[g] = flm_kq_q3_scale(g, b->scales) - 32;
}

void flm_q3_K_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    const struct flm_block_q3_K *x = vx;
    int8_t q[FLM_QK_K];
    int sc[FLM_QK_K / 16];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, y += FLM_QK_K) {
        const float d = flm_f16_to_f32(x[i].d);
        q3_decode(&x[i], q, sc);
        for (int e = 0; e < FLM_QK_K; ++e) {
            const float dl = d * sc[e / 16];
            y[e] = dl * q[e];
        }
    }
}

// Packs unsigned levels L[e] in [0, 8) into hmask (bit 2) and qs (bits 0-1).
static void pack_3bit(const int8_t *L, struct flm_block_q3_K *b) {
    memset(b->hmask, 0, sizeof b->hmask);
    memset(b->qs, 0, sizeof b->qs);
    for (int e = 0; e < FLM_QK_K; ++e) {
        if (L[e] > 3) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        b->qs[32 * (e / 128) + e % 32] |= (uint8_t)((L[e] & 3) << (2 * ((e % 128) / 32)));
    }
}

// Per group a symmetric fit refined by coordinate descent (x^2 weights);
// the signed group scales are quantized to 6 bits against the one of largest
// magnitude, and the levels recomputed with the rounded scales.
void flm_q3_K_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    struct flm_block_q3_K *y = vy;
    int8_t L[FLM_QK_K];
    float scales[FLM_QK_K / 16];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, x += FLM_QK_K) {
        float max_scale = 0, amax = 0;
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            scales[g] = flm_kq_fit_symmetric_cd(16, 4, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > amax) {
                amax = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int g = 0; g < FLM_QK_K / 16; ++g) {
                int l = flm_nearest_int(iscale * scales[g]);
                l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
                flm_kq_q3_put_scale(g, y[i].scales, l);
            }
            y[i].d = flm_f32_to_f16(1 / iscale);
        } else {
            y[i].d = flm_f32_to_f16(0.f);
        }
        const float dd = flm_f16_to_f32(y[i].d);
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            const float d = dd * (flm_kq_q3_scale(g, y[i].scales) - 32);
            if (!d) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = flm_nearest_int(x[16 * g + l] / d);
                L[16 * g + l] = (int8_t)((q < -4 ? -4 : q > 3 ? 3 : q) + 4);
            }
        }
        pack_3bit(L, &y[i]);
    }
}

void flm_q3_K_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q3_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    int8_t q[FLM_QK_K];
    int sc[FLM_QK_K / 16];
    int32_t aux32[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        q3_decode(&x[i], q, sc);
        flm_kq_lane_dot(q, y[i].qs, sc, aux32);
        flm_kq_lane_accumulate(sums, flm_f16_to_f32(x[i].d) * y[i].d, aux32);
    }
    float sumf = 0;
    for (int l = 0; l < 8; ++l) sumf += sums[l];
    *s = sumf;
}
