// calib.c - CHESS/CATS threshold calibration from activation statistics.
//
// Per layer and channel it keeps the sum of |up| and a histogram of |act|
// (16 bins per octave over 2^-24 .. 2^8, bin edges from the float's exponent
// and top four mantissa bits; values under the range count in bin 0, over it
// in the last), so memory does not grow with the calibration text. The
// per-layer lambda is found by bisection on the histograms' interpolated
// counts.
#include "sparse/sparse.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXP_LO   (127 - 24)
#define N_BINS   (32 * 16)

struct flm_sparse_calib {
    int32_t   n_layer, n_ff;
    uint32_t *hist;     // [n_layer][n_ff][N_BINS]
    double   *up_sum;   // [n_layer][n_ff] sum of |up|
    int64_t  *n_tok;    // [n_layer]
};

flm_status flm_sparse_calib_init(struct flm_sparse_calib **out, int32_t n_layer, int32_t n_ff, struct flm_err *err) {
    *out = NULL;
    if (n_layer <= 0 || n_ff <= 0) return flm_err_set(err, FLM_ERR_INVALID, "calibrate: %d layers of %d channels", n_layer, n_ff);
    struct flm_sparse_calib *c = calloc(1, sizeof *c);
    const size_t ch = (size_t)n_layer * (size_t)n_ff;
    if (c) {
        c->hist = calloc(ch * N_BINS, sizeof *c->hist);
        c->up_sum = calloc(ch, sizeof *c->up_sum);
        c->n_tok = calloc((size_t)n_layer, sizeof *c->n_tok);
    }
    if (!c || !c->hist || !c->up_sum || !c->n_tok) {
        flm_sparse_calib_free(c);
        return flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory for %zu channel histograms", ch);
    }
    c->n_layer = n_layer;
    c->n_ff = n_ff;
    *out = c;
    return FLM_OK;
}

void flm_sparse_calib_free(struct flm_sparse_calib *c) {
    if (!c) return;
    free(c->hist);
    free(c->up_sum);
    free(c->n_tok);
    free(c);
}

static int bin_of(float v) {
    uint32_t b;
    v = fabsf(v);
    memcpy(&b, &v, 4);
    int k = (int)(b >> 19) - (EXP_LO << 4);
    return k < 0 ? 0 : k >= N_BINS ? N_BINS - 1 : k;
}

// Lower edge of bin k.
static double bin_lo(int k) { return ldexp(1.0 + (k & 15) / 16.0, (k >> 4) + EXP_LO - 127); }

void flm_sparse_calib_add(struct flm_sparse_calib *c, int32_t il, const float *act, const float *up, int32_t n_tok) {
    const size_t F = (size_t)c->n_ff;
    uint32_t *h = c->hist + (size_t)il * F * N_BINS;
    double *us = c->up_sum + (size_t)il * F;
    for (int32_t t = 0; t < n_tok; t++)
        for (size_t i = 0; i < F; i++) {
            h[i * N_BINS + (size_t)bin_of(act[t * F + i])]++;
            us[i] += fabs((double)up[t * F + i]);
        }
    c->n_tok[il] += n_tok;
}

int64_t flm_sparse_calib_tokens(const struct flm_sparse_calib *c, int32_t il) { return c->n_tok[il]; }

// Tokens of channel histogram h (cumulative: cum[k] = count of bins < k)
// with |act| under v, interpolated linearly inside v's bin.
static double count_below(const uint32_t *cum, double v) {
    if (v <= 0) return 0;
    int k = bin_of((float)(v < FLT_MAX ? v : FLT_MAX));
    double lo = bin_lo(k), hi = bin_lo(k + 1), f = (v - lo) / (hi - lo);
    if (k == 0) f = v >= lo ? f : 0;  // bin 0 also holds everything under 2^-24
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    return cum[k] + f * (double)(cum[k + 1] - cum[k]);
}

flm_status flm_sparse_calib_thresholds(const struct flm_sparse_calib *c, enum flm_sparse_method method,
                                       const float *levels, int32_t n_levels, float *thr, struct flm_err *err) {
    const int32_t F = c->n_ff;
    for (int32_t j = 0; j < n_levels; j++)
        if (!(levels[j] > 0.0f && levels[j] < 1.0f) || (j && !(levels[j] > levels[j - 1])))
            return flm_err_set(err, FLM_ERR_INVALID, "calibrate: level %g: levels must be ascending in (0, 1)",
                               (double)levels[j]);
    uint32_t *cum = malloc((size_t)F * (N_BINS + 1) * sizeof *cum);
    double *scale = malloc((size_t)F * sizeof *scale);  // E|up_i| (CHESS) or 1 (per layer)
    if (!cum || !scale) {
        free(cum);
        free(scale);
        return flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
    }
    flm_status st = FLM_OK;
    for (int32_t il = 0; il < c->n_layer && st == FLM_OK; il++) {
        const double n = (double)c->n_tok[il];
        if (n <= 0) {
            st = flm_err_set(err, FLM_ERR_INVALID, "calibrate: layer %d saw no tokens", il);
            break;
        }
        for (int32_t i = 0; i < F; i++) {
            const uint32_t *h = c->hist + ((size_t)il * F + i) * N_BINS;
            uint32_t *cu = cum + (size_t)i * (N_BINS + 1);
            cu[0] = 0;
            for (int k = 0; k < N_BINS; k++) cu[k + 1] = cu[k] + h[k];
            scale[i] = method == FLM_SPARSE_CHESS ? c->up_sum[(size_t)il * F + i] / n : 1.0;
        }
        for (int32_t j = 0; j < n_levels; j++) {
            // lambda with a fraction levels[j] of |act_i| * scale_i under it
            const double want = levels[j] * n * F;
            double lo = -60, hi = 40;  // log2 lambda
            for (int it = 0; it < 60; it++) {
                const double mid = 0.5 * (lo + hi), lam = exp2(mid);
                double below = 0;
                for (int32_t i = 0; i < F; i++)
                    below += scale[i] > 0 ? count_below(cum + (size_t)i * (N_BINS + 1), lam / scale[i]) : n;
                if (below < want) lo = mid;
                else hi = mid;
            }
            const double lam = exp2(0.5 * (lo + hi));
            float *t = thr + ((size_t)il * n_levels + j) * F;
            for (int32_t i = 0; i < F; i++) {
                const double v = scale[i] > 0 ? lam / scale[i] : FLT_MAX;
                t[i] = v < FLT_MAX ? (float)v : FLT_MAX;
            }
        }
    }
    free(cum);
    free(scale);
    return st;
}
