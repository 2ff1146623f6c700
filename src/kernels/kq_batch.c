// kq_batch.c - scalar K-quant dots in llama.cpp's batched-kernel order.
#include "kernels/kq_batch.h"

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kquant.h"

#include <math.h>

// Sum over one Q6_K superblock of scale_g * (q - 32) * a, exact.
static int32_t q6_K_isum(const struct flm_block_q6_K *w, const struct flm_block_q8_K *a) {
    int32_t isum = 0;
    for (int g = 0; g < 16; g++) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) {
            const int e = g * 16 + l, h = e / 128, r = e % 128, k = r / 32, i = r % 32;
            const int lo = (w->ql[64 * h + i + 32 * (k & 1)] >> (k < 2 ? 0 : 4)) & 0xF;
            const int hi = (w->qh[32 * h + i] >> (2 * k)) & 3;
            s += ((lo | hi << 4) - 32) * a->qs[e];
        }
        isum += w->scales[g] * s;
    }
    return isum;
}

void flm_q6_K_dot_batch_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        const float t = (float)q6_K_isum(&x[b], &y[b]) * flm_f16_to_f32(x[b].d);
        acc = fmaf(t, y[b].d, acc);
    }
    *s = acc;
}

void flm_q4_K_dot_batch_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            flm_kq_get_scale_min(j, x[b].scales, &sc, &mn);
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            int32_t dot = 0;
            for (int i = 0; i < 32; i++) dot += (j % 2 ? q[i] >> 4 : q[i] & 0xF) * y[b].qs[32 * j + i];
            isum += sc * dot;
            imin += mn * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        const float t = (float)isum * flm_f16_to_f32(x[b].d);
        const float r = fmaf(-flm_f16_to_f32(x[b].dmin), (float)imin, t);
        acc = fmaf(r, y[b].d, acc);
    }
    *s = acc;
}

flm_vec_dot_fn flm_kq_batch_dot(enum flm_type t) {
    switch (t) {
    case FLM_TYPE_Q6_K: return flm_q6_K_dot_batch_ref;
    case FLM_TYPE_Q4_K: return flm_q4_K_dot_batch_ref;
    default:            return NULL;
    }
}
