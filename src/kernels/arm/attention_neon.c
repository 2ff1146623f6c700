// attention_neon.c - flm_attention_head with NEON, bit-identical to the
// scalar reference in kernels/attention.c: the same fused multiply-adds into
// the same accumulators in the same order, four at a time (a reference lane
// group of 16 is four float32x4 vectors; the weighted sum of values runs its
// lane accumulators side by side over the value dimension). The F16 loads of
// K and V use the hardware conversion, which is exact; q goes to half through
// core/fp16.h, as in the reference.
#include "kernels/attention.h"

#include "core/fp16.h"
#include "kernels/ops.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define MAX_HDV 256

static inline float32x4_t load_h4(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

// flm_hsum16 of the 16 lanes v[0..3].
static float hsum_v(const float32x4_t v[4]) {
    float l[16];
    for (int i = 0; i < 4; i++) vst1q_f32(l + 4 * i, v[i]);
    return flm_hsum16(l);
}

static float dot_qk(const uint16_t *q, const uint16_t *k, int n, bool four) {
    float32x4_t acc[4][4];
    for (int s = 0; s < 4; s++)
        for (int v = 0; v < 4; v++) acc[s][v] = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 16) {
        const int s = four ? (i / 16) % 4 : 0;
        for (int v = 0; v < 4; v++) acc[s][v] = vfmaq_f32(acc[s][v], load_h4(q + i + 4 * v), load_h4(k + i + 4 * v));
    }
    if (!four) return hsum_v(acc[0]);
    float32x4_t x[4];
    for (int v = 0; v < 4; v++) x[v] = vaddq_f32(vaddq_f32(acc[0][v], acc[2][v]), vaddq_f32(acc[1][v], acc[3][v]));
    return hsum_v(x);
}

void flm_attention_head_neon(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    const int hd = a->head_dim, hdv = a->head_dim_v;
    if (hd % 16 || hdv % 4 || hdv > MAX_HDV) {
        flm_attention_head_ref(a, scores, qh, out);
        return;
    }
    for (int d = 0; d < hd; d++) qh[d] = flm_f32_to_f16(a->q[d]);
    float max = -INFINITY;
    for (int j = a->j0; j <= a->j1; j++) {
        const float s = dot_qk(qh, a->k + (size_t)j * a->k_stride, hd, a->single) * a->scale;
        scores[j] = s;
        max = s > max ? s : max;
    }
    double sum = 0.0;
    for (int g = a->j0 - a->j0 % 16; g <= a->j1; g += 16) {
        float lane[16] = {0};
        for (int j = g < a->j0 ? a->j0 : g; j < g + 16 && j <= a->j1; j++) lane[j - g] = scores[j] = flm_expf_poly(scores[j] - max);
        sum += (double)flm_hsum16(lane);
    }
    const float inv = (float)(1.0 / sum);
    for (int j = a->j0; j <= a->j1; j++) scores[j] = flm_f16_to_f32(flm_f32_to_f16(scores[j] * inv));

    // acc[lane][d]: lane = j mod 16 (batched), or 16 * ((j / 16) mod 4) + j mod 16 (one token)
    static _Thread_local float acc[64][MAX_HDV];
    const int n_acc = a->single ? 64 : 16;
    for (int l = 0; l < n_acc; l++) memset(acc[l], 0, sizeof(float) * (size_t)hdv);
    for (int j = a->j0; j <= a->j1; j++) {
        float *A = acc[a->single ? 16 * ((j / 16) % 4) + j % 16 : j % 16];
        const uint16_t *vj = a->v + (size_t)j * a->v_stride;
        const float32x4_t p = vdupq_n_f32(scores[j]);
        for (int d = 0; d < hdv; d += 4) vst1q_f32(A + d, vfmaq_f32(vld1q_f32(A + d), p, load_h4(vj + d)));
    }
    for (int d = 0; d < hdv; d += 4) {
        float32x4_t x[16];
        for (int l = 0; l < 16; l++) {
            x[l] = vld1q_f32(acc[l] + d);
            if (a->single)
                x[l] = vaddq_f32(vaddq_f32(x[l], vld1q_f32(acc[32 + l] + d)),
                                 vaddq_f32(vld1q_f32(acc[16 + l] + d), vld1q_f32(acc[48 + l] + d)));
        }
        // the lane sum of flm_hsum16, for 4 values of d at once
        for (int l = 0; l < 8; l++) x[l] = vaddq_f32(x[l + 8], x[l]);
        for (int l = 0; l < 4; l++) x[l] = vaddq_f32(x[l + 4], x[l]);
        vst1q_f32(out + d, vaddq_f32(vaddq_f32(x[0], x[2]), vaddq_f32(x[1], x[3])));
    }
}
