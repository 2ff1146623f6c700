// kq_orders_avx2.c - AVX2 versions of the llama.cpp-order K-quant dots
// (kernels/q4_K_tiled.h, kernels/kq_batch.h). Only the exact integer sums are
// vectorised; the few float steps per superblock are the scalar references'
// own, in their order, so the results are bit-identical to them.
#include "kernels/kq_orders_x86.h"

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kquant.h"

#include <immintrin.h>
#include <math.h>

static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Sums of each of 8 vectors of int32, as 8 int32: three rounds of pairwise
// horizontal adds, then the two 128-bit halves.
static inline __m256i hsum8x8(const __m256i v[8]) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    const __m256i lo = _mm256_permute2x128_si256(a, b, 0x20), hi = _mm256_permute2x128_si256(a, b, 0x31);
    return _mm256_add_epi32(lo, hi);
}

// dot[j] = sum over sub-block j of q * a (q the 4-bit codes), j = 0..7.
static void q4_K_dots(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int32_t dot[8]) {
    const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    __m256i v[8];
    for (int p = 0; p < 4; p++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * p));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p + 32));
        v[2 * p] = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), ones);
        v[2 * p + 1] = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), ones);
    }
    _mm256_storeu_si256((__m256i *)dot, hsum8x8(v));
}

static void q4_K_parts(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int32_t s[8], int32_t m[8]) {
    int32_t dot[8];
    q4_K_dots(x, y, dot);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        flm_kq_get_scale_min(j, x->scales, &sc, &mn);
        s[j] = sc * dot[j];
        m[j] = mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
}

void flm_q4_K_dot_group4_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t s[8], m[8];
        q4_K_parts(&x[b], &y[b], s, m);
        const float d = flm_f16_to_f32(x[b].d) * y[b].d, dmin = flm_f16_to_f32(x[b].dmin) * y[b].d;
        for (int p = 0; p < 4; p++) {
            acc = fmaf((float)(s[2 * p] + s[2 * p + 1]), d, acc);
            acc_min = fmaf((float)(m[2 * p] + m[2 * p + 1]), dmin, acc_min);
        }
    }
    *out = acc - acc_min;
}

void flm_q4_K_dot_single_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t s[8], m[8], isum = 0, imin = 0;
        q4_K_parts(&x[b], &y[b], s, m);
        for (int j = 0; j < 8; j++) isum += s[j], imin += m[j];
        acc = fmaf((float)isum, flm_f16_to_f32(x[b].d) * y[b].d, acc);
        acc_min = fmaf((float)imin, flm_f16_to_f32(x[b].dmin) * y[b].d, acc_min);
    }
    *out = acc - acc_min;
}

void flm_q4_K_dot_batch_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t s[8], m[8], isum = 0, imin = 0;
        q4_K_parts(&x[b], &y[b], s, m);
        for (int j = 0; j < 8; j++) isum += s[j], imin += m[j];
        const float t = (float)isum * flm_f16_to_f32(x[b].d);
        acc = fmaf(fmaf(-flm_f16_to_f32(x[b].dmin), (float)imin, t), y[b].d, acc);
    }
    *out = acc;
}

// sum over the superblock of scale_g * (q - 32) * a
static int32_t q6_K_isum(const struct flm_block_q6_K *x, const struct flm_block_q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        for (int k = 0; k < 4; k++) {
            const __m256i ql = (k & 1) ? ql1 : ql0;
            const __m256i lo = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
            const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            const __m256i a = _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * k));
            const int g = 8 * h + 2 * k;  // the two 16-element scale groups of this chunk
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(x->scales[g + 1]), _mm_set1_epi16(x->scales[g]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), sc));
        }
    }
    int32_t off = 0;
    for (int g = 0; g < 16; g++) off += x->scales[g] * y->bsums[g];
    return hsum_i32(acc) - 32 * off;
}

void flm_q6_K_dot_batch_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        const float t = (float)q6_K_isum(&x[b], &y[b]) * flm_f16_to_f32(x[b].d);
        acc = fmaf(t, y[b].d, acc);
    }
    *out = acc;
}
