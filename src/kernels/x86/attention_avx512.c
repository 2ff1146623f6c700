// attention_avx512.c - flm_attention_head with AVX-512, bit-identical to the
// scalar reference in kernels/attention.c: the same fused multiply-adds into
// the same accumulators in the same order, only 16 of them at a time (the
// q.k lanes are the vector lanes; the weighted sum of values runs its lane
// accumulators side by side over the value dimension).
#include "kernels/attention.h"

#include "core/fp16.h"
#include "kernels/ops.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define MAX_HDV 256

void flm_attention_head_ref(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);

static inline __m512 load_h16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static float hsum_v(__m512 v) {
    float l[16];
    _mm512_storeu_ps(l, v);
    return flm_hsum16(l);
}

static float dot_qk(const uint16_t *q, const uint16_t *k, int n, bool four) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int i = 0; i < n; i += 16) {
        const int s = four ? (i / 16) % 4 : 0;
        acc[s] = _mm512_fmadd_ps(load_h16(q + i), load_h16(k + i), acc[s]);
    }
    if (!four) return hsum_v(acc[0]);
    return hsum_v(_mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3])));
}

void flm_attention_head_avx512(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out) {
    const int hd = a->head_dim, hdv = a->head_dim_v;
    if (hd % 16 || hdv % 16 || hdv > MAX_HDV) {
        flm_attention_head_ref(a, scores, qh, out);
        return;
    }
    for (int d = 0; d < hd; d += 16)
        _mm256_storeu_si256((__m256i *)(qh + d), _mm512_cvtps_ph(_mm512_loadu_ps(a->q + d), _MM_FROUND_TO_NEAREST_INT));
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
        const __m512 p = _mm512_set1_ps(scores[j]);
        for (int d = 0; d < hdv; d += 16)
            _mm512_storeu_ps(A + d, _mm512_fmadd_ps(p, load_h16(vj + d), _mm512_loadu_ps(A + d)));
    }
    for (int d = 0; d < hdv; d += 16) {
        __m512 x[16];
        for (int l = 0; l < 16; l++) {
            x[l] = _mm512_loadu_ps(acc[l] + d);
            if (a->single)
                x[l] = _mm512_add_ps(_mm512_add_ps(x[l], _mm512_loadu_ps(acc[32 + l] + d)),
                                     _mm512_add_ps(_mm512_loadu_ps(acc[16 + l] + d), _mm512_loadu_ps(acc[48 + l] + d)));
        }
        // the lane sum of flm_hsum16, for 16 values of d at once
        for (int l = 0; l < 8; l++) x[l] = _mm512_add_ps(x[l + 8], x[l]);
        for (int l = 0; l < 4; l++) x[l] = _mm512_add_ps(x[l + 4], x[l]);
        _mm512_storeu_ps(out + d, _mm512_add_ps(_mm512_add_ps(x[0], x[2]), _mm512_add_ps(x[1], x[3])));
    }
}
