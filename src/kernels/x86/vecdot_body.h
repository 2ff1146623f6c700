// vecdot_body.h - the x86 vec_dot kernels, written once and compiled twice:
// by vecdot_avx2.c (AVX2+FMA+F16C) and vecdot_avx512.c (+ AVX-512 VNNI).
// The includer defines VD(name) to append its ISA suffix.
//
// Parity with llama.cpp (see vecdot_x86.h): per block, an exact int32 value
// per float lane is formed, converted, and accumulated into eight float lanes
// with one FMA by the block scale, lanes being the 4-byte groups of 32-byte
// vectors of consecutive elements, as ggml's kernels lay them out (for Q6_K
// that includes taking the -32 offset out per 32-element group). The scalar
// step that ggml's compiler contracts (summs += m * s) is an explicit FMA
// here (fma1); no other product feeds a plain-C addition, so no compiler
// contraction setting can change the result.
#ifndef VD
#error "define VD(name) before including vecdot_body.h"
#endif

#include "core/status.h"
#include "quant/blocks.h"

#include <immintrin.h>
#include <string.h>

// ---------------------------------------------------------------- helpers

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// a * b + c rounded once (fmaf itself may become a libm call).
static inline float fma1(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// (hi + lo), then lanes (0+2, 1+3), then (0+2) + (1+3): ggml's hsum_float_8.
static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

// Unsigned bytes a times signed bytes b, each group of 4 summed into an int32.
static inline __m256i dot_u8s8(__m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
}

// Signed times signed: move a's sign onto b so that a can go in unsigned.
static inline __m256i dot_s8s8(__m256i a, __m256i b) {
    return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

// 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high nibbles.
static inline __m256i nibbles32(const uint8_t *q) {
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// 32 bits (little endian) -> 32 bytes, 0xFF where the bit is set.
static inline __m256i bits32(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, sizeof w);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

// int16 lanes 0..7 = lo, 8..15 = hi: the scales of two 16-element sub-blocks.
static inline __m256i scale_pair(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

// Multiply-accumulate: per int32 lane, sum of unsigned q times signed q8
// times an int16 scale (given per int16 lane).
static inline __m256i scaled_dot(__m256i scale, __m256i q, __m256i q8) {
    return _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, q8));
}

static inline __m256 fma_block(float d, __m256i sumi, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
}

// The 6-bit scales and mins of a Q4_K / Q5_K super-block (layout in blocks.h).
static inline void kquant_scales(const uint8_t s[12], int sc[8], int mn[8]) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 15) | ((s[j] >> 6) << 4);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
}

// ---------------------------------------------------------------- 32-element blocks

void VD(flm_q8_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        const float d = f16(x[i].d) * f16(y[i].d);
        acc = fma_block(d, dot_s8s8(load32(x[i].qs), load32(y[i].qs)), acc);
    }
    *s = hsum8(acc);
}

void VD(flm_q4_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK4_0 == 0);
    const struct flm_block_q4_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK4_0; ++i) {
        const float d = f16(x[i].d) * f16(y[i].d);
        const __m256i qx = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        acc = fma_block(d, dot_s8s8(qx, load32(y[i].qs)), acc);
    }
    *s = hsum8(acc);
}

void VD(flm_q4_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK4_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / FLM_QK4_1; ++i) {
        summs = fma1(f16(x[i].m), f16(y[i].s), summs);
        const float d = f16(x[i].d) * f16(y[i].d);
        acc = fma_block(d, dot_u8s8(nibbles32(x[i].qs), load32(y[i].qs)), acc);
    }
    const float sum = hsum8(acc);
    *s = sum + summs;
}

void VD(flm_q5_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK5_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK5_0; ++i) {
        const float d = f16(x[i].d) * f16(y[i].d);
        // q - 16 as a signed byte: the nibble, with 0xF0 or-ed in where bit 4 is clear
        const __m256i neg = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), neg);
        acc = fma_block(d, dot_s8s8(qx, load32(y[i].qs)), acc);
    }
    *s = hsum8(acc);
}

void VD(flm_q5_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK5_1 == 0);
    const struct flm_block_q5_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / FLM_QK5_1; ++i) {
        summs = fma1(f16(x[i].m), f16(y[i].s), summs);
        const float d = f16(x[i].d) * f16(y[i].d);
        const __m256i hi = _mm256_and_si256(bits32(x[i].qh), _mm256_set1_epi8(0x10));
        const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
        acc = fma_block(d, dot_u8s8(qx, load32(y[i].qs)), acc);
    }
    const float sum = hsum8(acc);
    *s = sum + summs;
}

// ---------------------------------------------------------------- K-quants (256-element super-blocks)

void VD(flm_q2_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q2_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        const __m128i sm = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(15)));
        const __m256i mprod = _mm256_madd_epi16(mins, load32(y[i].bsums));
        acc = fma_block(dmin, mprod, acc);  // the mins first, as ggml
        const uint8_t *q2 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; ++j) {  // 128 elements: 32 bytes of qs, 4 shifts
            const __m256i bits = load32(q2 + 32 * j);
            for (int k = 0; k < 4; ++k) {
                const int sb = 8 * j + 2 * k;  // the two 16-element sub-blocks of this vector
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i sc = scale_pair(x[i].scales[sb] & 15, x[i].scales[sb + 1] & 15);
                sumi = _mm256_add_epi32(sumi, scaled_dot(sc, q, load32(q8 + 128 * j + 32 * k)));
            }
        }
        acc = fma_block(d, sumi, acc);
    }
    *s = hsum8(acc);
}

void VD(flm_q3_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q3_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const uint8_t *sr = x[i].scales;
        int sc[16];
        for (int j = 0; j < 16; ++j) {
            const int lo = j < 8 ? sr[j] & 15 : sr[j - 8] >> 4;
            const int hi = (sr[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | hi << 4) - 32;
        }
        const __m256i hbits = load32(x[i].hmask);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; ++j) {
            const __m256i bits = load32(x[i].qs + 32 * j);
            for (int k = 0; k < 4; ++k) {
                const int sb = 8 * j + 2 * k;
                const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                // 4 where the high bit is clear (value q - 4), else 0
                const __m256i h = _mm256_and_si256(_mm256_srli_epi16(hbits, 4 * j + k), one);
                const __m256i qh = _mm256_slli_epi16(_mm256_xor_si256(h, one), 2);
                const __m256i y8 = load32(q8 + 128 * j + 32 * k);
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, y8), _mm256_maddubs_epi16(qh, y8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair(sc[sb], sc[sb + 1]), p16));
            }
        }
        acc = fma_block(d, sumi, acc);
    }
    *s = hsum8(acc);
}

void VD(flm_q4_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();  // the mins, in four lanes of their own
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        int sc[8], mn[8], bs[8];
        kquant_scales(x[i].scales, sc, mn);
        for (int j = 0; j < 8; ++j) bs[j] = y[i].bsums[2 * j] + y[i].bsums[2 * j + 1];
        const __m128i mprod = _mm_setr_epi32(mn[0] * bs[0] + mn[1] * bs[1], mn[2] * bs[2] + mn[3] * bs[3],
                                             mn[4] * bs[4] + mn[5] * bs[5], mn[6] * bs[6] + mn[7] * bs[7]);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mprod), acc_m);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {  // 64 elements: 32 bytes, low then high nibbles
            const __m256i bits = load32(x[i].qs + 32 * j);
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            sumi = _mm256_add_epi32(sumi, scaled_dot(_mm256_set1_epi16((short)sc[2 * j]), lo, load32(q8 + 64 * j)));
            sumi = _mm256_add_epi32(sumi, scaled_dot(_mm256_set1_epi16((short)sc[2 * j + 1]), hi, load32(q8 + 64 * j + 32)));
        }
        acc = fma_block(d, sumi, acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    const float sum = hsum8(acc);
    *s = sum + _mm_cvtss_f32(acc_m);
}

void VD(flm_q5_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q5_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = -y[i].d * f16(x[i].dmin);
        int sc[8], mn[8];
        kquant_scales(x[i].scales, sc, mn);
        int msum = 0;
        for (int j = 0; j < 8; ++j) msum += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        summs = fma1(dmin, (float)msum, summs);
        const __m256i hbits = load32(x[i].qh);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i bits = load32(x[i].qs + 32 * j);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4);
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            sumi = _mm256_add_epi32(sumi, scaled_dot(_mm256_set1_epi16((short)sc[2 * j]), q0, load32(q8 + 64 * j)));
            sumi = _mm256_add_epi32(sumi, scaled_dot(_mm256_set1_epi16((short)sc[2 * j + 1]), q1, load32(q8 + 64 * j + 32)));
        }
        acc = fma_block(d, sumi, acc);
    }
    const float sum = hsum8(acc);
    *s = sum + summs;
}

void VD(flm_q6_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const int8_t *sc = x[i].scales;
        // The -32 offset is taken out once per block from the group sums, as
        // ggml does: lane k loses 32 * (sc[2k] bsums[2k] + sc[2k+1] bsums[2k+1]).
        // This fixes how the total is spread over the float lanes.
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load32(y[i].bsums), sc16), 5);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; ++j) {  // 128 elements: 64 bytes of ql, 32 of qh
            const __m256i l0 = load32(x[i].ql + 64 * j), l1 = load32(x[i].ql + 64 * j + 32);
            const __m256i hb = load32(x[i].qh + 32 * j);
            const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
            for (int k = 0; k < 4; ++k) {
                const int sb = 8 * j + 2 * k;
                const __m256i h = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3), 4);
                const __m256i q = _mm256_or_si256(lo[k], h);  // 0..63
                const __m256i y8 = load32(y[i].qs + 128 * j + 32 * k);
                sumi = _mm256_add_epi32(sumi, scaled_dot(scale_pair(sc[sb], sc[sb + 1]), q, y8));
            }
        }
        acc = fma_block(d, _mm256_sub_epi32(sumi, offset), acc);
    }
    *s = hsum8(acc);
}

// ---------------------------------------------------------------- one weight row, four activation rows
//
// flm_<t>_vec_dot4: s[k] = dot(x, y + k * y_stride) for k < 4, each the same
// float as flm_<t>_vec_dot gives for that activation row: per row the same
// lane values, the same FMAs in the same block order, the same hsum8 (and for
// Q4_1 the same summs chain). Only the weight block's loads and unpacking are
// shared; the four accumulators are independent, written out (not as an array
// loop) so that they stay in registers at -O2.

#define VD4_ROWS(T, vy, y_stride)                                                         \
    const T *y0 = (const T *)(vy);                                                        \
    const T *y1 = (const T *)((const char *)(vy) + (y_stride));                           \
    const T *y2 = (const T *)((const char *)(vy) + 2 * (y_stride));                       \
    const T *y3 = (const T *)((const char *)(vy) + 3 * (y_stride))

void VD(flm_q8_0_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    VD4_ROWS(struct flm_block_q8_0, vy, y_stride);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        const float dx = f16(x[i].d);
        const __m256i qx = load32(x[i].qs);
        const __m256i ax = _mm256_sign_epi8(qx, qx);  // dot_s8s8, the x half once
        acc0 = fma_block(dx * f16(y0[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y0[i].qs), qx)), acc0);
        acc1 = fma_block(dx * f16(y1[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y1[i].qs), qx)), acc1);
        acc2 = fma_block(dx * f16(y2[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y2[i].qs), qx)), acc2);
        acc3 = fma_block(dx * f16(y3[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y3[i].qs), qx)), acc3);
    }
    s[0] = hsum8(acc0);
    s[1] = hsum8(acc1);
    s[2] = hsum8(acc2);
    s[3] = hsum8(acc3);
}

void VD(flm_q4_1_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK4_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    VD4_ROWS(struct flm_block_q8_1, vy, y_stride);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    float summs0 = 0, summs1 = 0, summs2 = 0, summs3 = 0;
    for (int64_t i = 0; i < n / FLM_QK4_1; ++i) {
        const float dx = f16(x[i].d), mx = f16(x[i].m);
        const __m256i qx = nibbles32(x[i].qs);
        summs0 = fma1(mx, f16(y0[i].s), summs0);
        summs1 = fma1(mx, f16(y1[i].s), summs1);
        summs2 = fma1(mx, f16(y2[i].s), summs2);
        summs3 = fma1(mx, f16(y3[i].s), summs3);
        acc0 = fma_block(dx * f16(y0[i].d), dot_u8s8(qx, load32(y0[i].qs)), acc0);
        acc1 = fma_block(dx * f16(y1[i].d), dot_u8s8(qx, load32(y1[i].qs)), acc1);
        acc2 = fma_block(dx * f16(y2[i].d), dot_u8s8(qx, load32(y2[i].qs)), acc2);
        acc3 = fma_block(dx * f16(y3[i].d), dot_u8s8(qx, load32(y3[i].qs)), acc3);
    }
    s[0] = hsum8(acc0) + summs0;
    s[1] = hsum8(acc1) + summs1;
    s[2] = hsum8(acc2) + summs2;
    s[3] = hsum8(acc3) + summs3;
}

void VD(flm_q5_0_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK5_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    VD4_ROWS(struct flm_block_q8_0, vy, y_stride);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t i = 0; i < n / FLM_QK5_0; ++i) {
        const float dx = f16(x[i].d);
        const __m256i neg = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), neg);  // q - 16, as in the 1-row kernel
        const __m256i ax = _mm256_sign_epi8(qx, qx);
        acc0 = fma_block(dx * f16(y0[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y0[i].qs), qx)), acc0);
        acc1 = fma_block(dx * f16(y1[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y1[i].qs), qx)), acc1);
        acc2 = fma_block(dx * f16(y2[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y2[i].qs), qx)), acc2);
        acc3 = fma_block(dx * f16(y3[i].d), dot_u8s8(ax, _mm256_sign_epi8(load32(y3[i].qs), qx)), acc3);
    }
    s[0] = hsum8(acc0);
    s[1] = hsum8(acc1);
    s[2] = hsum8(acc2);
    s[3] = hsum8(acc3);
}

#undef VD4_ROWS
