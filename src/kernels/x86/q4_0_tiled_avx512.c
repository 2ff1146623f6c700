// q4_0_tiled_avx512.c - the llama.cpp-order Q4_0 product (kernels/q4_0_tiled.h)
// with AVX-512 VNNI, sixteen weight rows at a time, from the GGUF layout.
//
// A tile is 16 weight rows. For each block, the rows' 16 code bytes are
// loaded and transposed (4x4 dwords per 128-bit lane) so that int32 lane p of
// vector g holds bytes 4g..4g+3 of row p: the low nibbles are elements
// 4g..4g+3, the high nibbles 16+4g..16+4g+3. One vpdpbusd with the matching
// four activation codes broadcast then adds to every row's own lane, so after
// eight of them lane p holds row p's exact dot of the codes q (0..15) with the
// activation; starting from -8 * (sum of the activation codes) makes it the
// dot of q - 8. The float steps are then per lane exactly the reference's:
// fma(float(isum), d_w * d_a, acc), block after block.
//
// Blocks are unpacked a chunk at a time into a small buffer on the stack and
// reused for every activation row (four at a time); the running sums live in
// y between chunks (a float stored and reloaded is unchanged).
#include "kernels/q4_0_tiled_x86.h"

#include "quant/blocks.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#define TILE  16  // weight rows per tile (one zmm of int32 / float lanes)
#define CHUNK 16
#ifndef FLM_Q4_0_AHEAD
#define FLM_Q4_0_AHEAD 2
#endif
#ifndef FLM_Q4_0_HINT
#define FLM_Q4_0_HINT _MM_HINT_T2
#endif  // blocks unpacked at a time (CHUNK * 576 bytes of stack)

struct tile {
    __m512i q[CHUNK][8];  // [block][activation dword e]: codes of elements 4e..4e+3 (e < 4: low nibbles)
    __m512  d[CHUNK];     // weight scales, one lane per row
};

static inline __m512i load4rows(const char *p0, const char *p1, const char *p2, const char *p3) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p0));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p1), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p2), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p3), 3);
}

// Block o (byte offset in the rows) of the tile whose row p starts at
// row[p]: the codes as q[e] (activation dword e) and the scales as d. Also
// asks for the same share of the next tile's bytes (next, contiguous): a tile
// reads 16 short strided streams, which the hardware prefetchers do not learn
// in time, while the next tile is one linear range.
static inline __attribute__((always_inline)) void load_block(const char *const row[TILE], size_t o,
                                                             const char *next, __m512i q[8], __m512 *d) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
    for (int l = 0; l < TILE * (int)sizeof(struct flm_block_q4_0); l += 64)
        _mm_prefetch(next + TILE * o + (size_t)l, FLM_Q4_0_HINT);
    // z<g>: rows g, g+4, g+8, g+12 in its four 128-bit lanes
    const __m512i z0 = load4rows(row[0] + o + 2, row[4] + o + 2, row[8] + o + 2, row[12] + o + 2);
    const __m512i z1 = load4rows(row[1] + o + 2, row[5] + o + 2, row[9] + o + 2, row[13] + o + 2);
    const __m512i z2 = load4rows(row[2] + o + 2, row[6] + o + 2, row[10] + o + 2, row[14] + o + 2);
    const __m512i z3 = load4rows(row[3] + o + 2, row[7] + o + 2, row[11] + o + 2, row[15] + o + 2);
    const __m512i t0 = _mm512_unpacklo_epi32(z0, z1), t1 = _mm512_unpackhi_epi32(z0, z1);
    const __m512i t2 = _mm512_unpacklo_epi32(z2, z3), t3 = _mm512_unpackhi_epi32(z2, z3);
    const __m512i g0 = _mm512_unpacklo_epi64(t0, t2), g1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i g2 = _mm512_unpacklo_epi64(t1, t3), g3 = _mm512_unpackhi_epi64(t1, t3);
    q[0] = _mm512_and_si512(g0, m4);
    q[1] = _mm512_and_si512(g1, m4);
    q[2] = _mm512_and_si512(g2, m4);
    q[3] = _mm512_and_si512(g3, m4);
    q[4] = _mm512_and_si512(_mm512_srli_epi16(g0, 4), m4);
    q[5] = _mm512_and_si512(_mm512_srli_epi16(g1, 4), m4);
    q[6] = _mm512_and_si512(_mm512_srli_epi16(g2, 4), m4);
    q[7] = _mm512_and_si512(_mm512_srli_epi16(g3, 4), m4);
    // The scales: word 0 of each lane of the same rows loaded from the block
    // start; row p = g + 4L sits in word 8L of the load for g (= p % 4).
    const __m512i s0 = load4rows(row[0] + o, row[4] + o, row[8] + o, row[12] + o);
    const __m512i s1 = load4rows(row[1] + o, row[5] + o, row[9] + o, row[13] + o);
    const __m512i s2 = load4rows(row[2] + o, row[6] + o, row[10] + o, row[14] + o);
    const __m512i s3 = load4rows(row[3] + o, row[7] + o, row[11] + o, row[15] + o);
    static const int16_t pick[32] = {0, 32, 0, 32, 8, 40, 8, 40, 16, 48, 16, 48, 24, 56, 24, 56};
    const __m512i idx = _mm512_loadu_si512(pick);
    const __m512i d01 = _mm512_permutex2var_epi16(s0, idx, s1);
    const __m512i d23 = _mm512_permutex2var_epi16(s2, idx, s3);
    const __m512i dd = _mm512_mask_blend_epi16(0xCCCC, d01, d23);
    *d = _mm512_cvtph_ps(_mm512_castsi512_si256(dd));
}

// Unpacks blocks [b0, b0 + nb) into t.
static void unpack(struct tile *t, const char *const row[TILE], int64_t b0, int nb, const char *next) {
    for (int j = 0; j < nb; j++)
        load_block(row, (size_t)(b0 + j) * sizeof(struct flm_block_q4_0), next, t->q[j], &t->d[j]);
}

static inline int32_t dword(const int8_t *q, int e) {
    int32_t v;
    memcpy(&v, q + 4 * e, sizeof v);
    return v;
}

// One block of one activation row into acc.
#define STEP(acc, blk, xs, t, j)                                                                \
    do {                                                                                        \
        __m512i s_ = _mm512_set1_epi32(-8 * (xs));                                              \
        _Pragma("GCC unroll 8") for (int e = 0; e < 8; e++)                                     \
            s_ = _mm512_dpbusd_epi32(s_, (t)->q[j][e], _mm512_set1_epi32(dword((blk)->qs, e))); \
        const __m512 sc_ = _mm512_mul_ps((t)->d[j], _mm512_set1_ps(_cvtsh_ss((blk)->d)));       \
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_), sc_, acc);                                \
    } while (0)

static void tile_rows(const struct flm_q4_0_rows_args *a, const struct tile *t, __mmask16 live, int64_t r0,
                      int64_t b0, int nb) {
    const int64_t n_blocks = a->k / 32;
    const bool first = b0 == 0;
    int i = 0;
    for (; i + 4 <= a->n; i += 4) {
        float *y0 = a->y + i * a->y_stride + r0, *y1 = y0 + a->y_stride, *y2 = y1 + a->y_stride,
              *y3 = y2 + a->y_stride;
        __m512 c0 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(live, y0);
        __m512 c1 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(live, y1);
        __m512 c2 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(live, y2);
        __m512 c3 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(live, y3);
        const struct flm_block_q8_0 *x0 = (const void *)((const char *)a->xq + (size_t)i * a->xq_stride);
        const struct flm_block_q8_0 *x1 = (const void *)((const char *)x0 + a->xq_stride);
        const struct flm_block_q8_0 *x2 = (const void *)((const char *)x1 + a->xq_stride);
        const struct flm_block_q8_0 *x3 = (const void *)((const char *)x2 + a->xq_stride);
        const int32_t *s0 = a->xsum + i * n_blocks, *s1 = s0 + n_blocks, *s2 = s1 + n_blocks, *s3 = s2 + n_blocks;
        for (int j = 0; j < nb; j++) {
            const int64_t b = b0 + j;
            STEP(c0, &x0[b], s0[b], t, j);
            STEP(c1, &x1[b], s1[b], t, j);
            STEP(c2, &x2[b], s2[b], t, j);
            STEP(c3, &x3[b], s3[b], t, j);
        }
        _mm512_mask_storeu_ps(y0, live, c0);
        _mm512_mask_storeu_ps(y1, live, c1);
        _mm512_mask_storeu_ps(y2, live, c2);
        _mm512_mask_storeu_ps(y3, live, c3);
    }
    for (; i < a->n; i++) {
        float *y0 = a->y + i * a->y_stride + r0;
        __m512 c0 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(live, y0);
        const struct flm_block_q8_0 *x0 = (const void *)((const char *)a->xq + (size_t)i * a->xq_stride);
        const int32_t *s0 = a->xsum + i * n_blocks;
        for (int j = 0; j < nb; j++) STEP(c0, &x0[b0 + j], s0[b0 + j], t, j);
        _mm512_mask_storeu_ps(y0, live, c0);
    }
}

// One activation row against a whole tile, straight from the loads.
static void tile_row1(const struct flm_q4_0_rows_args *a, const char *const row[TILE], __mmask16 live, int64_t r0, int i, const char *next) {
    const int64_t n_blocks = a->k / 32;
    const struct flm_block_q8_0 *x0 = (const void *)((const char *)a->xq + (size_t)i * a->xq_stride);
    const int32_t *s0 = a->xsum + i * n_blocks;
    __m512 c0 = _mm512_setzero_ps();
    for (int64_t b = 0; b < n_blocks; b++) {
        struct {
            __m512i q[1][8];
            __m512  d[1];
        } t;
        load_block(row, (size_t)b * sizeof(struct flm_block_q4_0), next, t.q[0], &t.d[0]);
        STEP(c0, &x0[b], s0[b], &t, 0);
    }
    _mm512_mask_storeu_ps(a->y + i * a->y_stride + r0, live, c0);
}

void flm_q4_0_rows_avx512(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1) {
    const int64_t n_blocks = a->k / 32;
    struct tile t;
    for (int64_t rt = r0; rt < r1; rt += TILE) {
        const int live_rows = r1 - rt < TILE ? (int)(r1 - rt) : TILE;
        const char *row[TILE];
        for (int p = 0; p < TILE; p++) {  // a short tile repeats its last row in the dead lanes
            const int pr = p < live_rows ? p : live_rows - 1;
            row[p] = (const char *)a->w + (size_t)(rt + pr) * a->row_bytes;
        }
        const __mmask16 live = (__mmask16)((1u << live_rows) - 1);
        const char *next = (const char *)a->w + (size_t)(rt + FLM_Q4_0_AHEAD * TILE) * a->row_bytes;
        if (a->n == 1) {
            tile_row1(a, row, live, rt, 0, next);
            continue;
        }
        for (int64_t b0 = 0; b0 < n_blocks; b0 += CHUNK) {
            const int nb = n_blocks - b0 < CHUNK ? (int)(n_blocks - b0) : CHUNK;
            unpack(&t, row, b0, nb, next);
            tile_rows(a, &t, live, rt, b0, nb);
        }
    }
}
