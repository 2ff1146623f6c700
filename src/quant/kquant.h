// kquant.h - helpers shared by the K-quant oracles (q2_K ... q8_K); internal
// to src/quant.
//
// Three kinds of helpers live here (rounding is in quant/qround.h):
//   - the 6-bit scale packings of q3_K and q4_K/q5_K,
//   - the scale fitting searches of ggml's reference K-quant quantizers
//     (same algorithms, so flashlm-quantized weights match ggml's quality),
//   - the 8-lane integer accumulation of ggml's scalar K-quant dot products,
//     whose lane structure decides the float summation order.
#ifndef FLM_QUANT_KQUANT_H
#define FLM_QUANT_KQUANT_H

#include "quant/blocks.h"
#include "quant/qround.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

// ---------------------------------------------------------------- scale packings

// q4_K / q5_K: 8 pairs of 6-bit (scale, min) in 12 bytes. See blocks.h.
static inline void flm_kq_get_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Inverse of flm_kq_get_scale_min for pair j; scales[] must start zeroed and
// the pairs be stored in order j = 0..7. sc, mn < 64.
static inline void flm_kq_put_scale_min(int j, uint8_t *q, uint8_t sc, uint8_t mn) {
    if (j < 4) {
        q[j] = sc;
        q[j + 4] = mn;
    } else {
        q[j + 4] = (uint8_t)((sc & 0xF) | ((mn & 0xF) << 4));
        q[j - 4] |= (uint8_t)((sc >> 4) << 6);
        q[j] |= (uint8_t)((mn >> 4) << 6);
    }
}

// q3_K: the 6-bit scale j (0..15, before subtracting 32). See blocks.h.
static inline int flm_kq_q3_scale(int j, const uint8_t *q) {
    const int lo = j < 8 ? (q[j] & 0xF) : (q[j - 8] >> 4);
    const int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | (hi << 4);
}

// Inverse of flm_kq_q3_scale; q must start zeroed. v < 64.
static inline void flm_kq_q3_put_scale(int j, uint8_t *q, int v) {
    if (j < 8) q[j] |= (uint8_t)(v & 0xF);
    else       q[j - 8] |= (uint8_t)((v & 0xF) << 4);
    q[8 + j % 4] |= (uint8_t)((v >> 4) << (2 * (j / 4)));
}

// ---------------------------------------------------------------- scale fitting

// Affine fit x ~ scale * L - min with L in [0, nmax], min >= 0, weighted by w:
// tries nstep + 1 grid scales (nmax + rmin + rdelta * is) / range and keeps the
// weighted least-squares (scale, min) with the lowest weighted error (absolute
// when use_mad). Writes L[n] (uses Laux[n] as scratch) and *the_min; returns scale.
float flm_kq_fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, uint8_t *Laux,
                        float *the_min, float rmin, float rdelta, int nstep, bool use_mad);

// Symmetric fit x ~ scale * (L - nmax), L in [0, 2 nmax), weights x^2: grid
// search over 18 nearby scales with least-squares refit. Returns the (signed)
// scale; 0 and L = 0 for an all-zero group.
float flm_kq_fit_symmetric(int n, int nmax, const float *x, int8_t *L);

// As flm_kq_fit_symmetric, refined instead by coordinate descent on single
// elements (up to 5 passes); used by q3_K.
float flm_kq_fit_symmetric_cd(int n, int nmax, const float *x, int8_t *L);

// ---------------------------------------------------------------- dot product lanes

// ggml's scalar K-quant dots accumulate products in 8 integer lanes: lane l
// gathers the elements whose index is l modulo 8. With q[256] the weight's
// integer values, y the activation quants and scale16[g] the integer scale of
// 16-element group g: aux32[l] = sum over i = l mod 8 of scale16[i/16] * q[i] * y[i].
void flm_kq_lane_dot(const int8_t *q, const int8_t *y, const int *scale16, int32_t aux32[8]);

// Adds lane results to the float lane sums in ggml's order: sums[l] += d * aux32[l].
static inline void flm_kq_lane_accumulate(float sums[8], float d, const int32_t aux32[8]) {
    for (int l = 0; l < 8; ++l) sums[l] += d * (float)aux32[l];
}

#endif
