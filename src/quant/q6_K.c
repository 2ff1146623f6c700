// q6_K.c - Q6_K oracle: 256-element super-blocks of 16 groups of 16, each
// with a signed 8-bit scale: x = d * sc * (q - 32) with 6-bit q (4 low bits in
// ql, 2 high bits in qh). Layout in quant/blocks.h. Paired with Q8_K.
#include "core/fp16.h"
#include "core/status.h"
#include "quant/kquant.h"
#include "quant/quant.h"

#include <math.h>

#define GROUP_MAX_EPS 1e-15f

// Signed levels q - 32 in [-32, 31] of every element of a block.
static void q6_levels(const struct flm_block_q6_K *b, int8_t *q) {
    for (int e = 0; e < FLM_QK_K; ++e) {
        const int h = e / 128, r = e % 128, kq = r / 32, l = r % 32;
        const uint8_t lo = b->ql[64 * h + l + 32 * (kq & 1)];
        const int lo4 = kq < 2 ? (lo & 0xF) : (lo >> 4);
        const int hi2 = (b->qh[32 * h + l] >> (2 * kq)) & 3;
        q[e] = (int8_t)((lo4 | (hi2 << 4)) - 32);
    }
}

void flm_q6_K_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    const struct flm_block_q6_K *x = vx;
    int8_t q[FLM_QK_K];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, y += FLM_QK_K) {
        const float d = flm_f16_to_f32(x[i].d);
        q6_levels(&x[i], q);
        for (int e = 0; e < FLM_QK_K; ++e) y[e] = d * x[i].scales[e / 16] * q[e];
    }
}

// Per group a symmetric fit (x^2 weights); the signed group scales are
// quantized to int8 against the one of largest magnitude (mapped to -128),
// and the levels recomputed with the rounded scales.
void flm_q6_K_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    struct flm_block_q6_K *y = vy;
    int8_t L[FLM_QK_K];
    float scales[FLM_QK_K / 16];
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, x += FLM_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            scales[g] = flm_kq_fit_symmetric(16, 32, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        if (max_abs_scale < GROUP_MAX_EPS) continue;  // all-zero block
        const float iscale = -128.f / max_scale;
        y[i].d = flm_f32_to_f16(1 / iscale);
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            const int v = flm_nearest_int(iscale * scales[g]);
            y[i].scales[g] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
        const float dd = flm_f16_to_f32(y[i].d);
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            const float d = dd * y[i].scales[g];
            if (!d) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = flm_nearest_int(x[16 * g + l] / d);
                L[16 * g + l] = (int8_t)((q < -32 ? -32 : q > 31 ? 31 : q) + 32);
            }
        }
        for (int e = 0; e < FLM_QK_K; ++e) {
            const int h = e / 128, r = e % 128, kq = r / 32, l = r % 32;
            const uint8_t lo4 = L[e] & 0xF;
            y[i].ql[64 * h + l + 32 * (kq & 1)] |= (uint8_t)(kq < 2 ? lo4 : lo4 << 4);
            y[i].qh[32 * h + l] |= (uint8_t)((L[e] >> 4) << (2 * kq));
        }
    }
}

void flm_q6_K_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    int8_t q[FLM_QK_K];
    int scale16[FLM_QK_K / 16];
    int32_t aux32[8];
    float sums[8] = {0};
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        q6_levels(&x[i], q);
        for (int g = 0; g < FLM_QK_K / 16; ++g) scale16[g] = x[i].scales[g];
        flm_kq_lane_dot(q, y[i].qs, scale16, aux32);
        flm_kq_lane_accumulate(sums, flm_f16_to_f32(x[i].d) * y[i].d, aux32);
    }
    float sumf = 0;
    for (int l = 0; l < 8; ++l) sumf += sums[l];
    *s = sumf;
}
