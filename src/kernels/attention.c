// attention.c - scalar attention for one head (the reference).
//
// The arithmetic is the one llama.cpp's CPU backend performs without flash
// attention, step for step, so that the results carry the same bits:
//   kq_j  = dot(f16(q), k_j): 16 lanes of fused multiply-adds over the head
//           dimension (lane = d mod 16), then an AVX-512-order lane sum;
//   p_j   = softmax(scale * kq_j): exp by flm_expf_poly, summed per aligned
//           group of 16 positions (lane sum in float), groups summed in double;
//   out_d = dot(f16(p), v_.d): 16 lanes over positions (lane = j mod 16),
//           then the lane sum.
// Positions outside [j0, j1] are masked: they contribute exact zeros.
#include "kernels/attention.h"

#include "core/fp16.h"
#include "kernels/ops.h"

#include <math.h>
#include <string.h>

// dot of two half vectors of n (a multiple of 16 for the lane order to be
// llama.cpp's; any n works).
static float dot_f16_lanes(const uint16_t *a, const uint16_t *b, int n) {
    float lane[16] = {0};
    for (int i = 0; i < n; i++) lane[i % 16] = fmaf(flm_f16_to_f32(a[i]), flm_f16_to_f32(b[i]), lane[i % 16]);
    return flm_hsum16(lane);
}

void flm_attention_head(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    for (int d = 0; d < a->head_dim; d++) qh[d] = flm_f32_to_f16(a->q[d]);
    float max = -INFINITY;
    for (int j = a->j0; j <= a->j1; j++) {
        const float s = dot_f16_lanes(qh, a->k + (size_t)j * a->k_stride, a->head_dim) * a->scale;
        scores[j] = s;
        max = s > max ? s : max;
    }
    // exp, summed per group of 16 aligned positions like the vectorised softmax
    double sum = 0.0;
    const int g0 = a->j0 - a->j0 % 16;
    for (int g = g0; g <= a->j1; g += 16) {
        float lane[16] = {0};
        for (int j = g < a->j0 ? a->j0 : g; j < g + 16 && j <= a->j1; j++) {
            scores[j] = flm_expf_poly(scores[j] - max);
            lane[j - g] = scores[j];
        }
        sum += (double)flm_hsum16(lane);
    }
    const float inv = (float)(1.0 / sum);
    // weighted sum of values: probabilities rounded to half, 16 lanes over j
    for (int d = 0; d < a->head_dim_v; d++) {
        float lane[16] = {0};
        for (int j = a->j0; j <= a->j1; j++) {
            const float p = flm_f16_to_f32(flm_f32_to_f16(scores[j] * inv));
            lane[j % 16] = fmaf(p, flm_f16_to_f32(a->v[(size_t)j * a->v_stride + d]), lane[j % 16]);
        }
        out[d] = flm_hsum16(lane);
    }
}
