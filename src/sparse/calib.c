// calib.c - threshold calibration from activation statistics (CHESS, CATS
// and the variants in sparse.h).
//
// Per layer and channel it keeps a histogram of |act| (16 bins per octave
// over 2^-24 .. 2^8, bin edges from the float's exponent and top four
// mantissa bits; values under the range count in bin 0, over it in the
// last) with the sum of |up| per bin and in all, so memory does not grow
// with the calibration text; then the down columns' norms and the layers'
// gains as the caller sets them. Each lambda is found by bisection on the
// histograms' interpolated counts.
#include "sparse/sparse.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXP_LO   (127 - 24)
#define N_BINS   (32 * 16)
#define COND_QUANTILE 0.5  // chess-cond: E|up| under the channel's median |act|

struct flm_sparse_calib {
    int32_t   n_layer, n_ff;
    uint32_t *hist;       // [n_layer][n_ff][N_BINS]
    double   *up_sum;     // [n_layer][n_ff] sum of |up|
    float    *up_bin;     // [n_layer][n_ff][N_BINS] sum of |up| of the tokens in each |act| bin
    double   *down_norm;  // [n_layer][n_ff] ||W_down[:, i]||, 1 until set
    double   *gain;       // [n_layer] sensitivity weight of the layer's errors (global), 1 until set
    int64_t  *n_tok;      // [n_layer]
};

flm_status flm_sparse_calib_init(struct flm_sparse_calib **out, int32_t n_layer, int32_t n_ff, struct flm_err *err) {
    *out = NULL;
    if (n_layer <= 0 || n_ff <= 0) return flm_err_set(err, FLM_ERR_INVALID, "calibrate: %d layers of %d channels", n_layer, n_ff);
    struct flm_sparse_calib *c = calloc(1, sizeof *c);
    const size_t ch = (size_t)n_layer * (size_t)n_ff;
    if (c) {
        c->hist = calloc(ch * N_BINS, sizeof *c->hist);
        c->up_sum = calloc(ch, sizeof *c->up_sum);
        c->up_bin = calloc(ch * N_BINS, sizeof *c->up_bin);
        c->down_norm = malloc(ch * sizeof *c->down_norm);
        c->gain = malloc((size_t)n_layer * sizeof *c->gain);
        c->n_tok = calloc((size_t)n_layer, sizeof *c->n_tok);
    }
    if (!c || !c->hist || !c->up_sum || !c->up_bin || !c->down_norm || !c->gain || !c->n_tok) {
        flm_sparse_calib_free(c);
        return flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory for %zu channel histograms", ch);
    }
    for (size_t i = 0; i < ch; i++) c->down_norm[i] = 1.0;
    for (int32_t il = 0; il < n_layer; il++) c->gain[il] = 1.0;
    c->n_layer = n_layer;
    c->n_ff = n_ff;
    *out = c;
    return FLM_OK;
}

void flm_sparse_calib_free(struct flm_sparse_calib *c) {
    if (!c) return;
    free(c->hist);
    free(c->up_sum);
    free(c->up_bin);
    free(c->down_norm);
    free(c->gain);
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
    float *ub = c->up_bin + (size_t)il * F * N_BINS;
    for (int32_t t = 0; t < n_tok; t++)
        for (size_t i = 0; i < F; i++) {
            const size_t k = i * N_BINS + (size_t)bin_of(act[t * F + i]);
            h[k]++;
            ub[k] += fabsf(up[t * F + i]);
            us[i] += fabs((double)up[t * F + i]);
        }
    c->n_tok[il] += n_tok;
}

void flm_sparse_calib_set_down(struct flm_sparse_calib *c, int32_t il, const float *norm) {
    double *d = c->down_norm + (size_t)il * (size_t)c->n_ff;
    for (int32_t i = 0; i < c->n_ff; i++) d[i] = norm[i];
}

void flm_sparse_calib_set_gain(struct flm_sparse_calib *c, int32_t il, double gain) { c->gain[il] = gain; }

int64_t flm_sparse_calib_tokens(const struct flm_sparse_calib *c, int32_t il) { return c->n_tok[il]; }

// ---------------------------------------------------------------- thresholds

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

// One layer's cumulative histograms and channel scales: channel i is
// dropped when |act_i| * scale[i] < lambda.
struct layer_view {
    const uint32_t *cum;    // [n_ff][N_BINS + 1]
    const double   *scale;  // [n_ff]
    double          n;      // tokens
};

// Token-channels of layer v under lambda.
static double layer_below(const struct layer_view *v, int32_t F, double lam) {
    double below = 0;
    for (int32_t i = 0; i < F; i++)
        below += v->scale[i] > 0 ? count_below(v->cum + (size_t)i * (N_BINS + 1), lam / v->scale[i]) : v->n;
    return below;
}

// lambda with want token-channels of layers v[0..n_v) under it (bisection on log2 lambda).
static double find_lambda(const struct layer_view *v, int32_t n_v, int32_t F, double want) {
    double lo = -80, hi = 60;
    for (int it = 0; it < 50; it++) {
        const double mid = 0.5 * (lo + hi);
        double below = 0;
        for (int32_t l = 0; l < n_v; l++) below += layer_below(&v[l], F, exp2(mid));
        if (below < want) lo = mid;
        else hi = mid;
    }
    return exp2(0.5 * (lo + hi));
}

// E|up_i| over the calibration tokens whose |act_i| lies under the
// channel's median: the up values that dropped neurons actually have.
static double cond_up(const struct flm_sparse_calib *c, size_t o, int64_t n_tok) {
    const uint32_t *h = c->hist + o * N_BINS;
    const float *ub = c->up_bin + o * N_BINS;
    const double want = COND_QUANTILE * (double)n_tok;
    double n = 0, su = 0;
    for (int k = 0; k < N_BINS && n < want; k++) n += h[k], su += ub[k];
    return n > 0 && su > 0 ? su / n : c->up_sum[o] / (double)n_tok;
}

// Channel i's scale for a method, without the layer's gain.
static double channel_scale(const struct flm_sparse_calib *c, enum flm_sparse_method method, int32_t il, int32_t i) {
    const size_t o = (size_t)il * (size_t)c->n_ff + (size_t)i;
    const double up = c->up_sum[o] / (double)c->n_tok[il];
    switch (method) {
    case FLM_SPARSE_PER_LAYER: return 1.0;
    case FLM_SPARSE_CHESS: return up;
    case FLM_SPARSE_CHESS_DOWN: return up * c->down_norm[o];
    case FLM_SPARSE_CHESS_COND:
    case FLM_SPARSE_GLOBAL: return cond_up(c, o, c->n_tok[il]);
    }
    return 1.0;
}

// Channel scales of layer il for a method (see sparse.h).
static void layer_scales(const struct flm_sparse_calib *c, enum flm_sparse_method method, int32_t il, double *scale) {
    const double gain = method == FLM_SPARSE_GLOBAL ? c->gain[il] : 1.0;
    for (int32_t i = 0; i < c->n_ff; i++) scale[i] = channel_scale(c, method, il, i) * gain;
}

double flm_sparse_calib_energy(const struct flm_sparse_calib *c, enum flm_sparse_method method, int32_t il,
                               const float *thr) {
    double e = 0;
    for (int32_t i = 0; i < c->n_ff; i++) {
        const uint32_t *h = c->hist + ((size_t)il * (size_t)c->n_ff + (size_t)i) * N_BINS;
        const double t = thr[i], sc = channel_scale(c, method, il, i);
        double ei = 0;
        for (int k = 0; k < N_BINS; k++) {
            const double lo = k ? bin_lo(k) : 0, hi = bin_lo(k + 1);
            if (t <= lo) break;
            const double top = t < hi ? t : hi, f = (top - lo) / (hi - lo), mid = 0.5 * (lo + top);
            ei += f * h[k] * mid * mid;
        }
        e += ei * sc * sc;
    }
    return e / (double)c->n_tok[il];
}

static void fill_thresholds(const struct layer_view *v, int32_t F, double lam, float *t) {
    for (int32_t i = 0; i < F; i++) {
        const double x = v->scale[i] > 0 ? lam / v->scale[i] : FLT_MAX;
        t[i] = x < FLT_MAX ? (float)x : FLT_MAX;
    }
}

flm_status flm_sparse_calib_thresholds(const struct flm_sparse_calib *c, enum flm_sparse_method method,
                                       const float *levels, int32_t n_levels, float *thr, struct flm_err *err) {
    const int32_t F = c->n_ff, L = c->n_layer;
    if ((unsigned)method > FLM_SPARSE_CHESS_COND)
        return flm_err_set(err, FLM_ERR_INVALID, "calibrate: unknown method %d", (int)method);
    for (int32_t j = 0; j < n_levels; j++)
        if (!(levels[j] > 0.0f && levels[j] < 1.0f) || (j && !(levels[j] > levels[j - 1])))
            return flm_err_set(err, FLM_ERR_INVALID, "calibrate: level %g: levels must be ascending in (0, 1)",
                               (double)levels[j]);
    for (int32_t il = 0; il < L; il++)
        if (c->n_tok[il] <= 0) return flm_err_set(err, FLM_ERR_INVALID, "calibrate: layer %d saw no tokens", il);
    const size_t ch = (size_t)L * (size_t)F;
    uint32_t *cum = malloc(ch * (N_BINS + 1) * sizeof *cum);
    double *scale = malloc(ch * sizeof *scale);
    struct layer_view *v = malloc((size_t)L * sizeof *v);
    if (!cum || !scale || !v) {
        free(cum), free(scale), free(v);
        return flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
    }
    for (int32_t il = 0; il < L; il++) {
        for (size_t i = (size_t)il * F; i < (size_t)(il + 1) * F; i++) {
            const uint32_t *h = c->hist + i * N_BINS;
            uint32_t *cu = cum + i * (N_BINS + 1);
            cu[0] = 0;
            for (int k = 0; k < N_BINS; k++) cu[k + 1] = cu[k] + h[k];
        }
        layer_scales(c, method, il, scale + (size_t)il * F);
        v[il] = (struct layer_view){cum + (size_t)il * F * (N_BINS + 1), scale + (size_t)il * F, (double)c->n_tok[il]};
    }
    for (int32_t j = 0; j < n_levels; j++) {
        if (method == FLM_SPARSE_GLOBAL) {  // one lambda: a fraction levels[j] of all token-channels under it
            double want = 0;
            for (int32_t il = 0; il < L; il++) want += levels[j] * v[il].n * F;
            const double lam = find_lambda(v, L, F, want);
            for (int32_t il = 0; il < L; il++) fill_thresholds(&v[il], F, lam, thr + ((size_t)il * n_levels + j) * F);
        } else {  // per layer: a fraction levels[j] of the layer's token-channels
            for (int32_t il = 0; il < L; il++) {
                const double lam = find_lambda(&v[il], 1, F, levels[j] * v[il].n * F);
                fill_thresholds(&v[il], F, lam, thr + ((size_t)il * n_levels + j) * F);
            }
        }
    }
    free(cum), free(scale), free(v);
    return FLM_OK;
}
