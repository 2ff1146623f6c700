// q4_K.c - Q4_K oracle: 256-element super-blocks of 8 groups of 32, each
// with a 6-bit scale and a 6-bit min (packed in scales[12]): x = d * sc * q
// - dmin * mn with 4-bit q. Layout in quant/blocks.h. Paired with Q8_K
// activations; the mins meet the activations through bsums.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/kquant.h"
#include "quant/quant.h"

#include <math.h>

static void q4_levels(const uint8_t *qs, int8_t *q) {
    for (int e = 0; e < FLM_QK_K; ++e) {
        const uint8_t b = qs[32 * (e / 64) + e % 32];
        q[e] = (int8_t)((e % 64) < 32 ? (b & 0xF) : (b >> 4));
    }
}

void flm_q4_K_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    const struct flm_block_q4_K *x = vx;
    int8_t q[FLM_QK_K];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, y += FLM_QK_K) {
        const float d = flm_f16_to_f32(x[i].d);
        const float dmin = flm_f16_to_f32(x[i].dmin);
        q4_levels(x[i].qs, q);
        for (int g = 0; g < FLM_QK_K / 32; ++g) {
            uint8_t sc, mn;
            flm_kq_get_scale_min(g, x[i].scales, &sc, &mn);
            const float dl = d * sc, ml = dmin * mn;
            for (int e = 32 * g; e < 32 * g + 32; ++e) y[e] = dl * q[e] - ml;
        }
    }
}

// Per group an affine fit weighted by rms(group) + |x|; group scales and mins
// are quantized to 6 bits against their maxima, then the levels recomputed.
void flm_q4_K_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    struct flm_block_q4_K *y = vy;
    uint8_t L[FLM_QK_K], Laux[32];
    float w[32], scales[FLM_QK_K / 32], mins[FLM_QK_K / 32];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, x += FLM_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int g = 0; g < FLM_QK_K / 32; ++g) {
            const float *xg = x + 32 * g;
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
            const float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) w[l] = av_x + fabsf(xg[l]);
            scales[g] = flm_kq_fit_affine(32, 15, xg, w, L + 32 * g, Laux, &mins[g], -1.f, 0.1f, 20, false);
            if (scales[g] > max_scale) max_scale = scales[g];
            if (mins[g] > max_min) max_min = mins[g];
        }
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        memset(y[i].scales, 0, sizeof y[i].scales);
        for (int g = 0; g < FLM_QK_K / 32; ++g) {
            const int ls = flm_nearest_int(inv_scale * scales[g]);
            const int lm = flm_nearest_int(inv_min * mins[g]);
            flm_kq_put_scale_min(g, y[i].scales, (uint8_t)(ls < 0 ? 0 : ls > 63 ? 63 : ls),
                                 (uint8_t)(lm < 0 ? 0 : lm > 63 ? 63 : lm));
        }
        y[i].d = flm_f32_to_f16(max_scale / 63.f);
        y[i].dmin = flm_f32_to_f16(max_min / 63.f);
        const float dd = flm_f16_to_f32(y[i].d), dm = flm_f16_to_f32(y[i].dmin);
        for (int g = 0; g < FLM_QK_K / 32; ++g) {
            uint8_t sc, mn;
            flm_kq_get_scale_min(g, y[i].scales, &sc, &mn);
            const float d = dd * sc;
            if (!d) continue;
            const float m = dm * mn;
            for (int l = 0; l < 32; ++l) {
                const int q = flm_nearest_int((x[32 * g + l] + m) / d);
                L[32 * g + l] = (uint8_t)(q < 0 ? 0 : q > 15 ? 15 : q);
            }
        }
        for (int e = 0; e < FLM_QK_K; e += 64) {
            for (int l = 0; l < 32; ++l) y[i].qs[e / 2 + l] = (uint8_t)(L[e + l] | (L[e + l + 32] << 4));
        }
    }
}

void flm_q4_K_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    int8_t q[FLM_QK_K];
    int scale16[FLM_QK_K / 16];
    int32_t aux32[8];
    float sums[8] = {0};
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        q4_levels(x[i].qs, q);
        int sumi = 0;  // sum of min * activation over the block
        for (int g = 0; g < FLM_QK_K / 32; ++g) {
            uint8_t sc, mn;
            flm_kq_get_scale_min(g, x[i].scales, &sc, &mn);
            scale16[2 * g] = scale16[2 * g + 1] = sc;
            sumi += (y[i].bsums[2 * g] + y[i].bsums[2 * g + 1]) * mn;
        }
        flm_kq_lane_dot(q, y[i].qs, scale16, aux32);
        flm_kq_lane_accumulate(sums, flm_f16_to_f32(x[i].d) * y[i].d, aux32);
        sumf -= (flm_f16_to_f32(x[i].dmin) * y[i].d) * sumi;
    }
    for (int l = 0; l < 8; ++l) sumf += sums[l];
    *s = sumf;
}
