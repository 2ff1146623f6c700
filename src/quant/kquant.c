// kquant.c - scale fitting searches and dot product lanes shared by the
// K-quant oracles. The searches follow ggml's reference quantizers
// (make_qkx2_quants, make_qx_quants with x^2 weights, make_q3_quants), so
// weights quantized here have the same quality as ggml's own.
#include "quant/kquant.h"

#include <math.h>

#define GROUP_MAX_EPS 1e-15f  // below this amplitude a group is all zeros

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// ---------------------------------------------------------------- affine fit (q2_K, q4_K, q5_K)

// Level of x on the grid (x - min) * iscale, clamped to [0, nmax].
static int affine_level(float x, float min, float iscale, int nmax) {
    const float v = iscale * (x - min);
    if (!(v > 0)) return 0;  // also NaN, when min ran up to max
    return flm_nearest_int(v < (float)nmax ? v : (float)nmax);
}

static float affine_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min,
                          bool use_mad) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

float flm_kq_fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, uint8_t *Laux,
                        float *the_min, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;  // the offset only ever shifts down: x = scale * L - the_min
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)affine_level(x[i], min, iscale, nmax);
    float best_error = affine_error(n, x, w, L, scale, min, use_mad);

    for (int is = 0; is <= nstep; ++is) {
        // As in ggml, later grid points use the best min found so far.
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = affine_level(x[i], min, iscale, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        const float err = affine_error(n, x, w, Laux, this_scale, this_min, use_mad);
        if (err < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

// ---------------------------------------------------------------- symmetric fits (q3_K, q6_K)

// The element of largest magnitude, with its sign; 0 for an all-zero group.
static float signed_absmax(int n, const float *x) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return amax < GROUP_MAX_EPS ? 0.f : max;
}

// Least-squares sums of x against levels round(iscale * x), weights x^2.
static void symmetric_sums(int n, int nmax, const float *x, float iscale, float *sumlx, float *suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clampi(flm_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float w = x[i] * x[i];
        *sumlx += w * x[i] * l;
        *suml2 += w * l * l;
    }
}

static void symmetric_levels(int n, int nmax, const float *x, float iscale, int8_t *L) {
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clampi(flm_nearest_int(iscale * x[i]), -nmax, nmax - 1));
}

float flm_kq_fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    const float max = signed_absmax(n, x);
    if (max == 0) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    // The largest element maps to level -nmax (the extreme of [-nmax, nmax)).
    float iscale = -nmax / max;
    float sumlx, suml2;
    symmetric_levels(n, nmax, x, iscale, L);
    symmetric_sums(n, nmax, x, iscale, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;  // = sumlx^2 / suml2, the error reduction to maximize
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        symmetric_sums(n, nmax, x, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            symmetric_levels(n, nmax, x, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float flm_kq_fit_symmetric_cd(int n, int nmax, const float *x, int8_t *L) {
    const float max = signed_absmax(n, x);
    if (max == 0) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {  // L holds signed levels until the end
        L[i] = (int8_t)clampi(flm_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * L[i];
        suml2 += w * L[i] * L[i];
    }
    // Move one element at a time to its best level given all the others,
    // keeping a move only when it improves sumlx^2 / suml2.
    for (int pass = 0; pass < 5; ++pass) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int new_l = clampi(flm_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i]) continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                ++n_changed;
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---------------------------------------------------------------- dot product lanes

void flm_kq_lane_dot(const int8_t *q, const int8_t *y, const int *scale16, int32_t aux32[8]) {
    for (int l = 0; l < 8; ++l) aux32[l] = 0;
    for (int g = 0; g < FLM_QK_K / 16; ++g) {
        for (int i = 16 * g; i < 16 * g + 16; ++i) aux32[i % 8] += scale16[g] * (q[i] * y[i]);
    }
}
