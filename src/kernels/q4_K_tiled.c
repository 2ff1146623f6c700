// q4_K_tiled.c - scalar Q4_K dots in llama.cpp's repacked-kernel order.
#include "kernels/q4_K_tiled.h"

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kquant.h"

#include <math.h>

// Integer sums of one 32-element sub-block j of superblock x against y:
// *s = scale_j * dot(q, y), *m = min_j * (sum of y over the sub-block).
static void sub_block(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int j, int32_t *s,
                      int32_t *m) {
    uint8_t sc, mn;
    flm_kq_get_scale_min(j, x->scales, &sc, &mn);
    const uint8_t *q = x->qs + 32 * (j / 2);
    const int8_t *a = y->qs + 32 * j;
    int32_t dot = 0;
    for (int i = 0; i < 32; i++) dot += (j % 2 ? q[i] >> 4 : q[i] & 0xF) * a[i];
    *s = sc * dot;
    *m = mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
}

void flm_q4_K_dot_group4_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        const float d = flm_f16_to_f32(x[b].d) * y[b].d, dmin = flm_f16_to_f32(x[b].dmin) * y[b].d;
        for (int p = 0; p < 4; p++) {
            int32_t s0, m0, s1, m1;
            sub_block(&x[b], &y[b], 2 * p, &s0, &m0);
            sub_block(&x[b], &y[b], 2 * p + 1, &s1, &m1);
            acc = fmaf((float)(s0 + s1), d, acc);
            acc_min = fmaf((float)(m0 + m1), dmin, acc_min);
        }
    }
    *s = acc - acc_min;
}

void flm_q4_K_dot_single_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            int32_t sj, mj;
            sub_block(&x[b], &y[b], j, &sj, &mj);
            isum += sj;
            imin += mj;
        }
        acc = fmaf((float)isum, flm_f16_to_f32(x[b].d) * y[b].d, acc);
        acc_min = fmaf((float)imin, flm_f16_to_f32(x[b].dmin) * y[b].d, acc_min);
    }
    *s = acc - acc_min;
}
