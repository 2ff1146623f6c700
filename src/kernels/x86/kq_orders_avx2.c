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
#include <string.h>

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

// One Q4_K superblock's weights unpacked once, for as many activation rows
// as the caller has: the 4-bit codes of sub-blocks 2p (lo) and 2p+1 (hi),
// the eight 6-bit scales (int32 lanes) and mins (each twice, int16 lanes,
// to pair with the activations' 16-element sums).
struct q4_K_unpacked {
    __m256i lo[4], hi[4];
    __m256i sc, mn2;
};

// The 12 bytes of 6-bit scales and mins rearranged into 8 scale bytes (*sc)
// and 8 min bytes (*mn): flm_kq_get_scale_min for all j at once, in registers.
static inline void q4_K_scales(const struct flm_block_q4_K *x, uint64_t *sc, uint64_t *mn) {
    uint32_t a[3];
    memcpy(a, x->scales, 12);
    const uint32_t k6 = 0x3F3F3F3Fu, k4 = 0x0F0F0F0Fu, k2 = 0x03030303u;
    *sc = (uint64_t)(a[0] & k6) | (uint64_t)((a[2] & k4) | (((a[0] >> 6) & k2) << 4)) << 32;
    *mn = (uint64_t)(a[1] & k6) | (uint64_t)(((a[2] >> 4) & k4) | (((a[1] >> 6) & k2) << 4)) << 32;
}

static void q4_K_unpack(const struct flm_block_q4_K *x, struct q4_K_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int p = 0; p < 4; p++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * p));
        u->lo[p] = _mm256_and_si256(q, m4);
        u->hi[p] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    uint64_t sc, mn;
    q4_K_scales(x, &sc, &mn);
    u->sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc));
    const __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
    u->mn2 = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
}

// Lane j of *s: scale_j * (sum over sub-block j of q * a); of *m: min_j *
// (sum of a over sub-block j), j = 0..7. Exact integers.
static inline void q4_K_parts_unpacked(const struct q4_K_unpacked *u, const struct flm_block_q8_K *y, __m256i *s,
                                       __m256i *m) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i v[8];
    for (int p = 0; p < 4; p++) {
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p + 32));
        v[2 * p] = _mm256_madd_epi16(_mm256_maddubs_epi16(u->lo[p], a0), ones);
        v[2 * p + 1] = _mm256_madd_epi16(_mm256_maddubs_epi16(u->hi[p], a1), ones);
    }
    *s = _mm256_mullo_epi32(hsum8x8(v), u->sc);
    *m = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), u->mn2);
}

// [s0+s1, s2+s3, m0+m1, m2+m3 | s4+s5, s6+s7, m4+m5, m6+m7]
static inline __m256i q4_K_pairs(__m256i s, __m256i m) { return _mm256_hadd_epi32(s, m); }

// The references' float steps for one superblock, with the sums of one
// output in one lane: every lane does exactly the scalar operations.
// group4: for each pair p, acc += (s_2p + s_2p+1) * d, acc_min += (m..) * dmin.
static inline void group4_steps(__m128 *acc, __m128 *acc_min, const __m128i lo[4], const __m128i hi[4], __m128 d,
                                __m128 dmin) {
    // lo[r] = [s_p0, s_p1, m_p0, m_p1] of output r, hi[r] the same for p2, p3
    __m128i a0 = lo[0], a1 = lo[1], a2 = lo[2], a3 = lo[3];
    __m128i t0 = _mm_unpacklo_epi32(a0, a1), t1 = _mm_unpacklo_epi32(a2, a3);
    __m128i t2 = _mm_unpackhi_epi32(a0, a1), t3 = _mm_unpackhi_epi32(a2, a3);
    const __m128i s0 = _mm_unpacklo_epi64(t0, t1), s1 = _mm_unpackhi_epi64(t0, t1);
    const __m128i m0 = _mm_unpacklo_epi64(t2, t3), m1 = _mm_unpackhi_epi64(t2, t3);
    a0 = hi[0], a1 = hi[1], a2 = hi[2], a3 = hi[3];
    t0 = _mm_unpacklo_epi32(a0, a1), t1 = _mm_unpacklo_epi32(a2, a3);
    t2 = _mm_unpackhi_epi32(a0, a1), t3 = _mm_unpackhi_epi32(a2, a3);
    const __m128i s2 = _mm_unpacklo_epi64(t0, t1), s3 = _mm_unpackhi_epi64(t0, t1);
    const __m128i m2 = _mm_unpacklo_epi64(t2, t3), m3 = _mm_unpackhi_epi64(t2, t3);
    *acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s0), d, *acc);
    *acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(m0), dmin, *acc_min);
    *acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s1), d, *acc);
    *acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(m1), dmin, *acc_min);
    *acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s2), d, *acc);
    *acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(m2), dmin, *acc_min);
    *acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s3), d, *acc);
    *acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(m3), dmin, *acc_min);
}

// Integer totals of one superblock for one output: isum (lane 0), imin (lane 2).
static inline __m128i q4_K_totals(__m256i pairs) {
    const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    return _mm_hadd_epi32(h, h);  // [isum, imin, isum, imin]
}

static inline float f16(uint16_t h) { return flm_f16_to_f32(h); }

void flm_q4_K_dot_group4_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        struct q4_K_unpacked u;
        q4_K_unpack(&x[b], &u);
        __m256i sv, mv;
        q4_K_parts_unpacked(&u, &y[b], &sv, &mv);
        int32_t pr[8];  // s01 s23 m01 m23 s45 s67 m45 m67
        _mm256_storeu_si256((__m256i *)pr, q4_K_pairs(sv, mv));
        const float d = f16(x[b].d) * y[b].d, dmin = f16(x[b].dmin) * y[b].d;
        const int32_t sp[4] = {pr[0], pr[1], pr[4], pr[5]}, mp[4] = {pr[2], pr[3], pr[6], pr[7]};
        for (int p = 0; p < 4; p++) {
            acc = fmaf((float)sp[p], d, acc);
            acc_min = fmaf((float)mp[p], dmin, acc_min);
        }
    }
    *out = acc - acc_min;
}

// isum = sum_j scale_j * dot_j and imin = sum_j min_j * (sum of a over j)
// of one superblock, straight from its bytes: the scales enter as 16-bit
// multipliers, so no per-sub-block sums are formed (the one-row orders need
// only the totals; the integers are exact whatever the grouping).
static inline void q4_K_totals_direct(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int32_t *isum,
                                      int32_t *imin) {
    uint64_t sc, mn;
    q4_K_scales(x, &sc, &mn);
    // the eight scales as 16-bit words; sub-block j's is broadcast for its madd
    const __m128i sc16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc));
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i acc = _mm256_setzero_si256();
    for (int p = 0; p < 4; p++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * p));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 64 * p + 32));
        __m256i sa, sb;
        switch (p) {  // _mm_srli_si128 needs a constant shift
        case 0: sa = _mm256_broadcastw_epi16(sc16), sb = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 2)); break;
        case 1: sa = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 4)), sb = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 6)); break;
        case 2: sa = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 8)), sb = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 10)); break;
        default: sa = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 12)), sb = _mm256_broadcastw_epi16(_mm_srli_si128(sc16, 14)); break;
        }
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), sa));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), sb));
    }
    const __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
    const __m256i mn2 = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
    const __m256i mv = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), mn2);
    const __m128i t = q4_K_totals(_mm256_hadd_epi32(acc, mv));  // [isum, imin, ..]
    *isum = _mm_cvtsi128_si32(t);
    *imin = _mm_extract_epi32(t, 1);
}

void flm_q4_K_dot_single_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t isum, imin;
        q4_K_totals_direct(&x[b], &y[b], &isum, &imin);
        acc = fmaf((float)isum, f16(x[b].d) * y[b].d, acc);
        acc_min = fmaf((float)imin, f16(x[b].dmin) * y[b].d, acc_min);
    }
    *out = acc - acc_min;
}

void flm_q4_K_dot_batch_avx2(int64_t n, float *out, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t isum, imin;
        q4_K_totals_direct(&x[b], &y[b], &isum, &imin);
        const float t = (float)isum * f16(x[b].d);
        acc = fmaf(fmaf(-f16(x[b].dmin), (float)imin, t), y[b].d, acc);
    }
    *out = acc;
}

static inline const struct flm_block_q8_K *row_block(const void *vy, size_t stride, int r, int64_t b) {
    return (const struct flm_block_q8_K *)((const char *)vy + (size_t)r * stride) + b;
}

// Four outputs of one weight row: the weights are unpacked once and the
// float steps run with one output per lane, each lane exactly its scalar
// reference.
void flm_q4_K_dot4_group4_avx2(int64_t n, float *out, const void *vx, const void *vy, size_t stride) {
    const struct flm_block_q4_K *x = vx;
    __m128 acc = _mm_setzero_ps(), acc_min = _mm_setzero_ps();
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        struct q4_K_unpacked u;
        q4_K_unpack(&x[b], &u);
        __m128i lo[4], hi[4];
        float yd[4];
        for (int r = 0; r < 4; r++) {
            const struct flm_block_q8_K *y = row_block(vy, stride, r, b);
            __m256i sv, mv;
            q4_K_parts_unpacked(&u, y, &sv, &mv);
            const __m256i pr = q4_K_pairs(sv, mv);
            lo[r] = _mm256_castsi256_si128(pr);
            hi[r] = _mm256_extracti128_si256(pr, 1);
            yd[r] = y->d;
        }
        const __m128 yd4 = _mm_loadu_ps(yd);
        const __m128 d = _mm_mul_ps(_mm_set1_ps(f16(x[b].d)), yd4), dmin = _mm_mul_ps(_mm_set1_ps(f16(x[b].dmin)), yd4);
        group4_steps(&acc, &acc_min, lo, hi, d, dmin);
    }
    _mm_storeu_ps(out, _mm_sub_ps(acc, acc_min));
}

void flm_q4_K_dot4_batch_avx2(int64_t n, float *out, const void *vx, const void *vy, size_t stride) {
    const struct flm_block_q4_K *x = vx;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        struct q4_K_unpacked u;
        q4_K_unpack(&x[b], &u);
        int32_t is[4], im[4];
        float yd[4];
        for (int r = 0; r < 4; r++) {
            const struct flm_block_q8_K *y = row_block(vy, stride, r, b);
            __m256i sv, mv;
            q4_K_parts_unpacked(&u, y, &sv, &mv);
            const __m128i t = q4_K_totals(q4_K_pairs(sv, mv));
            is[r] = _mm_cvtsi128_si32(t);
            im[r] = _mm_extract_epi32(t, 1);
            yd[r] = y->d;
        }
        const __m128 t = _mm_mul_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)is)), _mm_set1_ps(f16(x[b].d)));
        const __m128 inner = _mm_fmadd_ps(_mm_set1_ps(-f16(x[b].dmin)), _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)im)), t);
        acc = _mm_fmadd_ps(inner, _mm_loadu_ps(yd), acc);
    }
    _mm_storeu_ps(out, acc);
}

// One Q6_K superblock's weights unpacked: the 6-bit codes of each 32-element
// chunk and the pair of 16-element group scales that applies to it.
struct q6_K_unpacked {
    __m256i q[8], sc[8];
};

static void q6_K_unpack(const struct flm_block_q6_K *x, struct q6_K_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        for (int k = 0; k < 4; k++) {
            const __m256i ql = (k & 1) ? ql1 : ql0;
            const __m256i lo = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
            u->q[4 * h + k] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            const int g = 8 * h + 2 * k;  // the two 16-element scale groups of this chunk
            u->sc[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(x->scales[g + 1]), _mm_set1_epi16(x->scales[g]));
        }
    }
}

// sum over the superblock of scale_g * (q - 32) * a
static int32_t q6_K_isum_unpacked(const struct q6_K_unpacked *u, const struct flm_block_q6_K *x,
                                  const struct flm_block_q8_K *y) {
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * c));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u->q[c], a), u->sc[c]));
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
        struct q6_K_unpacked u;
        q6_K_unpack(&x[b], &u);
        const float t = (float)q6_K_isum_unpacked(&u, &x[b], &y[b]) * flm_f16_to_f32(x[b].d);
        acc = fmaf(t, y[b].d, acc);
    }
    *out = acc;
}

void flm_q6_K_dot4_batch_avx2(int64_t n, float *out, const void *vx, const void *vy, size_t stride) {
    const struct flm_block_q6_K *x = vx;
    float acc[4] = {0};
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        struct q6_K_unpacked u;
        q6_K_unpack(&x[b], &u);
        const float d = flm_f16_to_f32(x[b].d);
        for (int r = 0; r < 4; r++) {
            const struct flm_block_q8_K *y = (const struct flm_block_q8_K *)((const char *)vy + r * stride) + b;
            const float t = (float)q6_K_isum_unpacked(&u, &x[b], y) * d;
            acc[r] = fmaf(t, y->d, acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = acc[r];
}
