// attention.c - scalar attention for one head (the reference).
//
// The arithmetic is the one llama.cpp's CPU backend performs without flash
// attention, step for step, so that the results carry the same bits:
//   kq_j  = dot(f16(q), k_j): fused multiply-adds into 16 lanes over the head
//           dimension, then an AVX-512-order lane sum (struct lanes below);
//   p_j   = softmax(scale * kq_j): exp by flm_expf_poly, summed per aligned
//           group of 16 positions (lane sum in float), groups summed in double;
//   out_d = dot(f16(p), v_.d): the same kind of sum over positions.
// A batched pass sums in one 16-lane accumulator (llama.cpp's tiled matrix
// kernel), a one-token pass in four (its vector dot): both are reproduced.
// Positions outside [j0, j1] are masked: they contribute exact zeros.
#include "kernels/attention.h"

#include "core/fp16.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- sum orders
//
// Two orders of summing products, both llama.cpp's: a batched pass uses one
// 16-lane accumulator (lane = index mod 16), a one-token pass four of them,
// one per 16-element quarter of each 64-element step, folded (0+2)+(1+3).

struct lanes {
    float acc[4][16];
    bool  four;  // one-token order
};

static void lanes_init(struct lanes *l, bool four) {
    memset(l->acc, 0, sizeof l->acc);
    l->four = four;
}

static inline void lanes_fma(struct lanes *l, int i, float a, float b) {
    float *acc = &l->acc[l->four ? (i / 16) % 4 : 0][i % 16];
    *acc = fmaf(a, b, *acc);
}

static float lanes_sum(const struct lanes *l) {
    if (!l->four) return flm_hsum16(l->acc[0]);
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (l->acc[0][i] + l->acc[2][i]) + (l->acc[1][i] + l->acc[3][i]);
    return flm_hsum16(x);
}

// q . k over the head dimension (exact agreement in the one-token order needs
// a multiple of 64, which every supported model has).
static float dot_qk(const uint16_t *q, const uint16_t *k, int n, bool four) {
    struct lanes l;
    lanes_init(&l, four);
    for (int i = 0; i < n; i++) lanes_fma(&l, i, flm_f16_to_f32(q[i]), flm_f16_to_f32(k[i]));
    return lanes_sum(&l);
}

// ---------------------------------------------------------------- one head

void flm_attention_head_ref(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    for (int d = 0; d < a->head_dim; d++) qh[d] = flm_f32_to_f16(a->q[d]);
    float max = -INFINITY;
    for (int j = a->j0; j <= a->j1; j++) {
        const float s = dot_qk(qh, a->k + (size_t)j * a->k_stride, a->head_dim, a->single) * a->scale;
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
    // weighted sum of values: probabilities rounded to half, lanes over j
    for (int j = a->j0; j <= a->j1; j++) scores[j] = flm_f16_to_f32(flm_f32_to_f16(scores[j] * inv));
    for (int d = 0; d < a->head_dim_v; d++) {
        struct lanes l;
        lanes_init(&l, a->single);
        for (int j = a->j0; j <= a->j1; j++) lanes_fma(&l, j, scores[j], flm_f16_to_f32(a->v[(size_t)j * a->v_stride + d]));
        out[d] = lanes_sum(&l);
    }
}

void flm_attention_head(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    flm_kernel_attention()(a, scores, qh, out);
}
