// vecdot_body_arm.h - the AArch64 vec_dot kernels, written once and compiled
// twice: by vecdot_neon.c (ARMv8.0 Advanced SIMD) and vecdot_dotprod.c
// (+ the dot-product extension). The includer defines VD(name) to append its
// ISA suffix; __ARM_FEATURE_DOTPROD (set by the compiler for the second)
// picks how 16 signed 8-bit products are summed into four int32 lanes.
//
// Every element value is formed as a signed byte (the weight levels of all
// these types fit: unsigned ones are below 64), so one primitive serves all
// types: dot_acc (SDOT, or SMULL + SADALP, both exact). Per block the int32
// lanes are summed exactly, then the float step is the oracle's own
// expression for that block (see vecdot_arm.h).
#ifndef VD
#error "define VD(name) before including vecdot_body_arm.h"
#endif

#include "core/fp16.h"
#include "core/status.h"
#include "quant/blocks.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- helpers

static inline float f16(uint16_t h) { return flm_f16_to_f32(h); }

// acc + the sums of a * b over each group of four bytes (SDOT), or of pairs
// of groups (without dotprod): the same lane total either way, exactly.
static inline int32x4_t dot_acc(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

static inline int32x4_t dot16(int8x16_t a, const int8_t *y) { return dot_acc(vdupq_n_s32(0), a, vld1q_s8(y)); }

// The exact dot of 32 levels (a0: elements 0..15, a1: 16..31) with y[0..31].
static inline int dot32(int8x16_t a0, int8x16_t a1, const int8_t *y) {
    return vaddvq_s32(dot_acc(dot16(a0, y), a1, vld1q_s8(y + 16)));
}

static inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }
static inline uint8x16_t low4(uint8x16_t v) { return vandq_u8(v, vdupq_n_u8(0x0F)); }
static inline uint8x16_t high4(uint8x16_t v) { return vshrq_n_u8(v, 4); }

// v >> k per byte, k not a compile-time constant.
static inline uint8x16_t shr(uint8x16_t v, int k) { return vshlq_u8(v, vdupq_n_s8((int8_t)-k)); }

// 16 bytes, 0xFF where bit (base + i) of w is set.
static inline uint8x16_t bits16(uint32_t w, int base) {
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)(w >> base)), vdup_n_u8((uint8_t)(w >> (base + 8))));
    return vtstq_u8(b, vld1q_u8(sel));
}

static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t w;
    memcpy(&w, p, sizeof w);
    return w;
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

// sum over the eight 32-element groups of mn[g] * (activation sum of group g).
static inline int kquant_mins(const int mn[8], const int16_t bsums[16]) {
    int m = 0;
    for (int g = 0; g < 8; ++g) m += mn[g] * (bsums[2 * g] + bsums[2 * g + 1]);
    return m;
}

// ---------------------------------------------------------------- 32-element blocks

void VD(flm_q8_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        const int sumi = dot32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
        sumf += sumi * (f16(x[i].d) * f16(y[i].d));
    }
    *s = sumf;
}

void VD(flm_q4_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK4_0 == 0);
    const struct flm_block_q4_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    const int8x16_t eight = vdupq_n_s8(8);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK4_0; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int sumi = dot32(vsubq_s8(s8(low4(q)), eight), vsubq_s8(s8(high4(q)), eight), y[i].qs);
        sumf += sumi * f16(x[i].d) * f16(y[i].d);
    }
    *s = sumf;
}

void VD(flm_q4_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK4_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK4_1; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int sumi = dot32(s8(low4(q)), s8(high4(q)), y[i].qs);
        const float dxdy = f16(x[i].d) * f16(y[i].d);
        sumf += dxdy * sumi + f16(x[i].m) * f16(y[i].s);
    }
    *s = sumf;
}

void VD(flm_q5_0_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK5_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    const int8x16_t sixteen = vdupq_n_s8(16);
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK5_0; ++i) {
        const uint32_t qh = load_u32(x[i].qh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const uint8x16_t lo = vorrq_u8(low4(q), vandq_u8(bits16(qh, 0), bit4));
        const uint8x16_t hi = vorrq_u8(high4(q), vandq_u8(bits16(qh, 16), bit4));
        const int sumi = dot32(vsubq_s8(s8(lo), sixteen), vsubq_s8(s8(hi), sixteen), y[i].qs);
        sumf += (f16(x[i].d) * f16(y[i].d)) * sumi;
    }
    *s = sumf;
}

void VD(flm_q5_1_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK5_1 == 0);
    const struct flm_block_q5_1 *x = vx;
    const struct flm_block_q8_1 *y = vy;
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK5_1; ++i) {
        const uint32_t qh = load_u32(x[i].qh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const uint8x16_t lo = vorrq_u8(low4(q), vandq_u8(bits16(qh, 0), bit4));
        const uint8x16_t hi = vorrq_u8(high4(q), vandq_u8(bits16(qh, 16), bit4));
        const int sumi = dot32(s8(lo), s8(hi), y[i].qs);
        const float dxdy = f16(x[i].d) * f16(y[i].d);
        sumf += dxdy * sumi + f16(x[i].m) * f16(y[i].s);
    }
    *s = sumf;
}

// ---------------------------------------------------------------- one weight row, four activation rows
//
// flm_<t>_vec_dot4 (kernels/dispatch.h): s[k] = dot(x, y + k * y_stride) for
// k < 4, each the same float as flm_<t>_vec_dot gives for that row (the same
// exact block sums, the same float expression per block, in block order);
// only the weight block's loads and unpacking are shared.

#define VD4_ROWS(T, vy, y_stride)                                                         \
    const T *y0 = (const T *)(vy);                                                        \
    const T *y1 = (const T *)((const char *)(vy) + (y_stride));                           \
    const T *y2 = (const T *)((const char *)(vy) + 2 * (y_stride));                       \
    const T *y3 = (const T *)((const char *)(vy) + 3 * (y_stride))

void VD(flm_q8_0_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK8_0 == 0);
    const struct flm_block_q8_0 *x = vx;
    VD4_ROWS(struct flm_block_q8_0, vy, y_stride);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = 0; i < n / FLM_QK8_0; ++i) {
        const int8x16_t a0 = vld1q_s8(x[i].qs), a1 = vld1q_s8(x[i].qs + 16);
        const float dx = f16(x[i].d);
        s0 += dot32(a0, a1, y0[i].qs) * (dx * f16(y0[i].d));
        s1 += dot32(a0, a1, y1[i].qs) * (dx * f16(y1[i].d));
        s2 += dot32(a0, a1, y2[i].qs) * (dx * f16(y2[i].d));
        s3 += dot32(a0, a1, y3[i].qs) * (dx * f16(y3[i].d));
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

void VD(flm_q4_1_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK4_1 == 0);
    const struct flm_block_q4_1 *x = vx;
    VD4_ROWS(struct flm_block_q8_1, vy, y_stride);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = 0; i < n / FLM_QK4_1; ++i) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t a0 = s8(low4(q)), a1 = s8(high4(q));
        const float dx = f16(x[i].d), mx = f16(x[i].m);
        s0 += (dx * f16(y0[i].d)) * dot32(a0, a1, y0[i].qs) + mx * f16(y0[i].s);
        s1 += (dx * f16(y1[i].d)) * dot32(a0, a1, y1[i].qs) + mx * f16(y1[i].s);
        s2 += (dx * f16(y2[i].d)) * dot32(a0, a1, y2[i].qs) + mx * f16(y2[i].s);
        s3 += (dx * f16(y3[i].d)) * dot32(a0, a1, y3[i].qs) + mx * f16(y3[i].s);
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

void VD(flm_q5_0_vec_dot4)(int64_t n, float *s, const void *vx, const void *vy, size_t y_stride) {
    FLM_ASSERT(n % FLM_QK5_0 == 0);
    const struct flm_block_q5_0 *x = vx;
    VD4_ROWS(struct flm_block_q8_0, vy, y_stride);
    const int8x16_t sixteen = vdupq_n_s8(16);
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = 0; i < n / FLM_QK5_0; ++i) {
        const uint32_t qh = load_u32(x[i].qh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t a0 = vsubq_s8(s8(vorrq_u8(low4(q), vandq_u8(bits16(qh, 0), bit4))), sixteen);
        const int8x16_t a1 = vsubq_s8(s8(vorrq_u8(high4(q), vandq_u8(bits16(qh, 16), bit4))), sixteen);
        const float dx = f16(x[i].d);
        s0 += (dx * f16(y0[i].d)) * dot32(a0, a1, y0[i].qs);
        s1 += (dx * f16(y1[i].d)) * dot32(a0, a1, y1[i].qs);
        s2 += (dx * f16(y2[i].d)) * dot32(a0, a1, y2[i].qs);
        s3 += (dx * f16(y3[i].d)) * dot32(a0, a1, y3[i].qs);
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

#undef VD4_ROWS

// ---------------------------------------------------------------- K-quants (256-element super-blocks)
//
// Per super-block: isum = sum over 16-element sub-blocks of scale * (exact
// dot), in int32 (bounded well inside it for every type), then
// sumf += d * isum (- dmin * mins for the types with mins).

void VD(flm_q2_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q2_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const uint8_t *sc = x[i].scales;
        int summs = 0;
        for (int g = 0; g < 16; ++g) summs += y[i].bsums[g] * (sc[g] >> 4);
        int32x4_t isum = vdupq_n_s32(0);
        for (int j = 0; j < 2; ++j) {      // 128 elements from 32 bytes of qs
            for (int h = 0; h < 2; ++h) {  // bytes 16h..16h+15
                const uint8x16_t bits = vld1q_u8(x[i].qs + 32 * j + 16 * h);
                for (int k = 0; k < 4; ++k) {  // element 128j + 32k + 16h + l, sub-block 8j + 2k + h
                    const int8x16_t q = s8(vandq_u8(shr(bits, 2 * k), m3));
                    const int sb = 8 * j + 2 * k + h;
                    isum = vmlaq_n_s32(isum, dot16(q, y[i].qs + 16 * sb), sc[sb] & 15);
                }
            }
        }
        const float dall = y[i].d * f16(x[i].d);
        const float dmin = y[i].d * f16(x[i].dmin);
        sumf += dall * vaddvq_s32(isum) - dmin * summs;
    }
    *s = sumf;
}

void VD(flm_q3_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q3_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        const uint8_t *sr = x[i].scales;
        int sc[16];
        for (int j = 0; j < 16; ++j) {
            const int lo = j < 8 ? sr[j] & 15 : sr[j - 8] >> 4;
            const int hi = (sr[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (lo | hi << 4) - 32;
        }
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {  // hmask bytes 16h..16h+15: elements 16h + l + 32m
            const uint8x16_t hm = vld1q_u8(x[i].hmask + 16 * h);
            for (int j = 0; j < 2; ++j) {
                const uint8x16_t bits = vld1q_u8(x[i].qs + 32 * j + 16 * h);
                for (int k = 0; k < 4; ++k) {  // element 128j + 32k + 16h + l; high bit 4j + k of hmask
                    const uint8x16_t set = vtstq_u8(hm, vdupq_n_u8((uint8_t)(1u << (4 * j + k))));
                    const uint8x16_t ql = vandq_u8(shr(bits, 2 * k), m3);
                    const int8x16_t q = vsubq_s8(s8(ql), s8(vbicq_u8(four, set)));  // -4 where the bit is clear
                    const int sb = 8 * j + 2 * k + h;
                    isum = vmlaq_n_s32(isum, dot16(q, y[i].qs + 16 * sb), sc[sb]);
                }
            }
        }
        sumf += (y[i].d * f16(x[i].d)) * vaddvq_s32(isum);
    }
    *s = sumf;
}

// Lanes of the dots of the eight 32-element sub-blocks of a Q4_K super-block
// (codes 0..15, unscaled) with the activations: v[g] sums to sub-block g's.
static inline void q4_K_subdots(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int32x4_t v[8]) {
    const int8_t *q8 = y->qs;
    for (int j = 0; j < 4; ++j) {  // 64 elements: 32 bytes, low then high nibbles
        const uint8x16_t b0 = vld1q_u8(x->qs + 32 * j), b1 = vld1q_u8(x->qs + 32 * j + 16);
        v[2 * j] = dot_acc(dot16(s8(low4(b0)), q8 + 64 * j), s8(low4(b1)), vld1q_s8(q8 + 64 * j + 16));
        v[2 * j + 1] = dot_acc(dot16(s8(high4(b0)), q8 + 64 * j + 32), s8(high4(b1)), vld1q_s8(q8 + 64 * j + 48));
    }
}

void VD(flm_q4_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        int sc[8], mn[8];
        kquant_scales(x[i].scales, sc, mn);
        int32x4_t v[8];
        q4_K_subdots(&x[i], &y[i], v);
        int32x4_t isum = vdupq_n_s32(0);
        for (int g = 0; g < 8; ++g) isum = vmlaq_n_s32(isum, v[g], sc[g]);
        const float d = f16(x[i].d) * y[i].d, dmin = f16(x[i].dmin) * y[i].d;
        sumf += d * vaddvq_s32(isum);
        sumf -= dmin * kquant_mins(mn, y[i].bsums);
    }
    *s = sumf;
}

void VD(flm_q5_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q5_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    const uint8x16_t bit4 = vdupq_n_u8(0x10);
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) {
        int sc[8], mn[8];
        kquant_scales(x[i].scales, sc, mn);
        const int8_t *q8 = y[i].qs;
        const uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        int32x4_t isum = vdupq_n_s32(0);
        for (int j = 0; j < 4; ++j) {  // 64 elements; qh bit 2j for the low nibbles, 2j + 1 for the high
            const uint8x16_t b0 = vld1q_u8(x[i].qs + 32 * j), b1 = vld1q_u8(x[i].qs + 32 * j + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * j))), bh = vdupq_n_u8((uint8_t)(2u << (2 * j)));
            const int8x16_t l0 = s8(vorrq_u8(low4(b0), vandq_u8(vtstq_u8(h0, bl), bit4)));
            const int8x16_t l1 = s8(vorrq_u8(low4(b1), vandq_u8(vtstq_u8(h1, bl), bit4)));
            const int8x16_t u0 = s8(vorrq_u8(high4(b0), vandq_u8(vtstq_u8(h0, bh), bit4)));
            const int8x16_t u1 = s8(vorrq_u8(high4(b1), vandq_u8(vtstq_u8(h1, bh), bit4)));
            const int32x4_t lo = dot_acc(dot16(l0, q8 + 64 * j), l1, vld1q_s8(q8 + 64 * j + 16));
            const int32x4_t hi = dot_acc(dot16(u0, q8 + 64 * j + 32), u1, vld1q_s8(q8 + 64 * j + 48));
            isum = vmlaq_n_s32(isum, lo, sc[2 * j]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * j + 1]);
        }
        const float d = f16(x[i].d) * y[i].d, dmin = f16(x[i].dmin) * y[i].d;
        sumf += d * vaddvq_s32(isum);
        sumf -= dmin * kquant_mins(mn, y[i].bsums);
    }
    *s = sumf;
}

// The exact sum over a Q6_K super-block of scale * (q - 32) * activation.
static inline int32_t q6_K_isum(const struct flm_block_q6_K *x, const struct flm_block_q8_K *y) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    int32x4_t isum = vdupq_n_s32(0);
    for (int j = 0; j < 2; ++j) {  // 128 elements: 64 bytes of ql, 32 of qh, scales 8j..8j+7
        const uint8_t *ql = x->ql + 64 * j, *qh = x->qh + 32 * j;
        const int8_t *sc = x->scales + 8 * j, *q8 = y->qs + 128 * j;
        for (int h = 0; h < 2; ++h) {  // l = 16h..16h+15: elements l, l+32, l+64, l+96
            const uint8x16_t a = vld1q_u8(ql + 16 * h), b = vld1q_u8(ql + 32 + 16 * h);
            const uint8x16_t hb = vld1q_u8(qh + 16 * h);
            const uint8x16_t q[4] = {
                vorrq_u8(low4(a), vshlq_n_u8(vandq_u8(hb, m3), 4)),
                vorrq_u8(low4(b), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4)),
                vorrq_u8(high4(a), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4)),
                vorrq_u8(high4(b), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
            };
            for (int k = 0; k < 4; ++k) {  // sub-block 2k + h of this half
                const int8x16_t v = vsubq_s8(s8(q[k]), off);
                isum = vmlaq_n_s32(isum, dot16(v, q8 + 32 * k + 16 * h), sc[2 * k + h]);
            }
        }
    }
    return vaddvq_s32(isum);
}

void VD(flm_q6_K_vec_dot)(int64_t n, float *s, const void *vx, const void *vy) {
    FLM_ASSERT(n % FLM_QK_K == 0);
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t i = 0; i < n / FLM_QK_K; ++i) sumf += (f16(x[i].d) * y[i].d) * q6_K_isum(&x[i], &y[i]);
    *s = sumf;
}

// ---------------------------------------------------------------- llama.cpp-order K-quant dots
//
// The dots of kernels/q4_K_tiled.h and kernels/kq_batch.h: the exact integer
// sums from the helpers above, then the scalar references' own float steps
// (fmaf, as they call it) in their order, so results are bit-identical to
// flm_q4_K_dot_group4_ref, _single_ref, _batch_ref and flm_q6_K_dot_batch_ref.

// Per sub-block g: the scaled dot sc[g] * dot_g and the min term mn[g] * bsum_g.
static inline void q4_K_sub_sums(const struct flm_block_q4_K *x, const struct flm_block_q8_K *y, int32_t sd[8],
                                 int32_t sm[8]) {
    int sc[8], mn[8];
    kquant_scales(x->scales, sc, mn);
    int32x4_t v[8];
    q4_K_subdots(x, y, v);
    for (int g = 0; g < 8; ++g) {
        sd[g] = sc[g] * vaddvq_s32(v[g]);
        sm[g] = mn[g] * (y->bsums[2 * g] + y->bsums[2 * g + 1]);
    }
}

void VD(flm_q4_K_dot_group4)(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        const float d = f16(x[b].d) * y[b].d, dmin = f16(x[b].dmin) * y[b].d;
        int32_t sd[8], sm[8];
        q4_K_sub_sums(&x[b], &y[b], sd, sm);
        for (int p = 0; p < 4; p++) {
            acc = fmaf((float)(sd[2 * p] + sd[2 * p + 1]), d, acc);
            acc_min = fmaf((float)(sm[2 * p] + sm[2 * p + 1]), dmin, acc_min);
        }
    }
    *s = acc - acc_min;
}

void VD(flm_q4_K_dot_single)(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t sd[8], sm[8], isum = 0, imin = 0;
        q4_K_sub_sums(&x[b], &y[b], sd, sm);
        for (int g = 0; g < 8; g++) {
            isum += sd[g];
            imin += sm[g];
        }
        acc = fmaf((float)isum, f16(x[b].d) * y[b].d, acc);
        acc_min = fmaf((float)imin, f16(x[b].dmin) * y[b].d, acc_min);
    }
    *s = acc - acc_min;
}

void VD(flm_q4_K_dot_batch)(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        int32_t sd[8], sm[8], isum = 0, imin = 0;
        q4_K_sub_sums(&x[b], &y[b], sd, sm);
        for (int g = 0; g < 8; g++) {
            isum += sd[g];
            imin += sm[g];
        }
        const float t = (float)isum * f16(x[b].d);
        const float r = fmaf(-f16(x[b].dmin), (float)imin, t);
        acc = fmaf(r, y[b].d, acc);
    }
    *s = acc;
}

void VD(flm_q6_K_dot_batch)(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q6_K *x = vx;
    const struct flm_block_q8_K *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK_K; b++) {
        const float t = (float)q6_K_isum(&x[b], &y[b]) * f16(x[b].d);
        acc = fmaf(t, y[b].d, acc);
    }
    *s = acc;
}
