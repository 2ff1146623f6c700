// attention.c - scalar attention for one head (the reference).
#include "kernels/attention.h"

#include "core/fp16.h"

#include <math.h>
#include <string.h>

static float dot_f16(const uint16_t *a, const uint16_t *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += flm_f16_to_f32(a[i]) * flm_f16_to_f32(b[i]);
    return s;
}

void flm_attention_head(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    for (int d = 0; d < a->head_dim; d++) qh[d] = flm_f32_to_f16(a->q[d]);
    float max = -INFINITY;
    for (int j = a->j0; j <= a->j1; j++) {
        float s = dot_f16(qh, a->k + (size_t)j * a->k_stride, a->head_dim) * a->scale;
        scores[j] = s;
        max = s > max ? s : max;
    }
    double sum = 0.0;
    for (int j = a->j0; j <= a->j1; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    const float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)a->head_dim_v * sizeof *out);
    for (int j = a->j0; j <= a->j1; j++) {
        const float p = scores[j] * inv;
        const uint16_t *vj = a->v + (size_t)j * a->v_stride;
        for (int d = 0; d < a->head_dim_v; d++) out[d] += p * flm_f16_to_f32(vj[d]);
    }
}
