// q4_0_tiled_avx2.c - the llama.cpp-order Q4_0 product (kernels/q4_0_tiled.h)
// with AVX2, eight weight rows at a time, from the GGUF layout.
//
// The AVX-512 variant's scheme at half the width (see q4_0_tiled_avx512.c):
// the eight rows' code bytes are transposed so that int32 lane p of vector e
// holds row p's codes for activation dword e; maddubs + madd with the
// broadcast activation codes add into row p's own lane, starting from
// -8 * (sum of the activation codes); then per lane
// fma(float(isum), d_w * d_a, acc), block after block, as the reference.
// One activation row at a time: this is the fallback for CPUs without
// AVX-512, kept simple.
#include "kernels/q4_0_tiled_x86.h"

#include "quant/blocks.h"

#include <immintrin.h>
#include <string.h>

#define TILE 8

static inline __m256i load2rows(const char *p0, const char *p1) {
    return _mm256_loadu2_m128i((const __m128i *)p1, (const __m128i *)p0);
}

// Block o of the tile (rows row[0..7]): codes q[e] for activation dword e,
// scales d (one lane per row).
static inline void load_block(const char *const row[TILE], size_t o, __m256i q[8], __m256 *d) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i z0 = load2rows(row[0] + o + 2, row[4] + o + 2), z1 = load2rows(row[1] + o + 2, row[5] + o + 2);
    const __m256i z2 = load2rows(row[2] + o + 2, row[6] + o + 2), z3 = load2rows(row[3] + o + 2, row[7] + o + 2);
    const __m256i t0 = _mm256_unpacklo_epi32(z0, z1), t1 = _mm256_unpackhi_epi32(z0, z1);
    const __m256i t2 = _mm256_unpacklo_epi32(z2, z3), t3 = _mm256_unpackhi_epi32(z2, z3);
    const __m256i g[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                          _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
    for (int e = 0; e < 4; e++) {
        q[e] = _mm256_and_si256(g[e], m4);
        q[e + 4] = _mm256_and_si256(_mm256_srli_epi16(g[e], 4), m4);
    }
    uint16_t h[TILE];
    for (int p = 0; p < TILE; p++) memcpy(&h[p], row[p] + o, sizeof h[p]);
    *d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

void flm_q4_0_rows_avx2(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1) {
    const int64_t n_blocks = a->k / 32;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t rt = r0; rt < r1; rt += TILE) {
        const int live = r1 - rt < TILE ? (int)(r1 - rt) : TILE;
        const char *row[TILE];
        for (int p = 0; p < TILE; p++)  // a short tile repeats its last row in the dead lanes
            row[p] = (const char *)a->w + (size_t)(rt + (p < live ? p : live - 1)) * a->row_bytes;
        for (int i = 0; i < a->n; i++) {
            const struct flm_block_q8_0 *x = (const void *)((const char *)a->xq + (size_t)i * a->xq_stride);
            const int32_t *xs = a->xsum + i * n_blocks;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = 0; b < n_blocks; b++) {
                __m256i q[8];
                __m256 d;
                load_block(row, (size_t)b * sizeof(struct flm_block_q4_0), q, &d);
                __m256i s = _mm256_set1_epi32(-8 * xs[b]);
                for (int e = 0; e < 8; e++) {
                    int32_t v;
                    memcpy(&v, x[b].qs + 4 * e, sizeof v);
                    const __m256i p16 = _mm256_maddubs_epi16(q[e], _mm256_set1_epi32(v));  // |pair| <= 2*15*128
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(p16, ones));
                }
                const __m256 sc = _mm256_mul_ps(d, _mm256_set1_ps(_cvtsh_ss(x[b].d)));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc);
            }
            float out[TILE];
            _mm256_storeu_ps(out, acc);
            memcpy(a->y + i * a->y_stride + rt, out, sizeof(float) * (size_t)live);
        }
    }
}
