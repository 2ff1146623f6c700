// calibrate.c - activation statistics of a model on a text, turned into
// sparsity thresholds and written into a copy of the model file.
//
// The dense forward pass is run with its trace hook: each layer's gate
// pre-activation ("ffn_gate") and up projection ("ffn_up") go into the
// sparse/ histograms; all rows are kept to the last layer (all_logits). The
// down columns' norms come from the weights. For the global method the
// layers' sensitivities are then measured: the first PROBE_TOKENS tokens run
// once dense and once per layer with only that layer's FFN sparse at
// PROBE_LEVEL; the KL divergence of the logits from the dense ones, per unit
// of the error energy the statistics predict for that layer, is the layer's
// weight (gain^2) in the one global lambda.
#include "flashlm.h"

#include "model/context.h"
#include "sparse/sparse.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_LEVEL  0.5f
#define PROBE_TOKENS 256

struct flm_calib_params flm_calib_params_default(void) {
    return (struct flm_calib_params){.n_tokens = 8192, .chunk_len = 512, .method = "chess-cond", .n_levels = 5,
                                     .levels = {0.3f, 0.4f, 0.5f, 0.6f, 0.7f}};
}

struct hook {
    struct flm_context      *ctx;
    struct flm_sparse_calib *calib;
    float                   *act;   // [n_batch][n_ff] act(gate) of the current layer
    float                   *ones;  // [n_batch * n_ff]
};

static void on_trace(void *user, const char *name, int il, const float *data, size_t n) {
    struct hook *h = user;
    const struct flm_model *m = h->ctx->model;
    const size_t F = (size_t)m->hp.n_ff;
    if (!strcmp(name, "ffn_gate")) {
        if (m->hp.act == FLM_ACT_GELU) flm_geglu_table(h->act, data, h->ones, (int64_t)n, m->gelu_table);
        else flm_swiglu(h->act, data, h->ones, (int64_t)n);
    } else if (!strcmp(name, "ffn_up")) {
        flm_sparse_calib_add(h->calib, il, h->act, data, (int32_t)(n / F));
    }
}

// ||W_down[:, i]|| of every layer into the statistics (chess-down).
static flm_status add_down_norms(const struct flm_model *m, struct flm_sparse_calib *calib, struct flm_err *err) {
    const int32_t F = m->hp.n_ff;
    double *sq = malloc((size_t)F * sizeof *sq);
    float *row = malloc((size_t)F * sizeof *row), *col = malloc((size_t)F * sizeof *col);
    for (int32_t il = 0; sq && row && col && il < m->hp.n_layer; il++) {
        const struct flm_mat *d = &m->layers[il].w_down;  // [n_ff] -> [n_embd]: row r holds output r's weights
        memset(sq, 0, (size_t)F * sizeof *sq);
        for (int64_t r = 0; r < d->n_rows; r++) {
            flm_mat_row_to_float(d, r, row);
            for (int32_t i = 0; i < F; i++) sq[i] += (double)row[i] * row[i];
        }
        for (int32_t i = 0; i < F; i++) col[i] = (float)sqrt(sq[i]);
        flm_sparse_calib_set_down(calib, il, col);
    }
    const flm_status s = sq && row && col ? FLM_OK : flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
    free(sq), free(row), free(col);
    return s;
}

static flm_status run_text(struct flm_context *ctx, const int32_t *toks, int32_t n, int32_t chunk, struct flm_err *err) {
    const int32_t nb = flm_context_n_batch(ctx);
    flm_status s = FLM_OK;
    for (int32_t c = 0; s == FLM_OK && c < n; c += chunk) {
        const int32_t len = n - c < chunk ? n - c : chunk;
        s = flm_context_truncate(ctx, 0, err);
        for (int32_t b = 0; s == FLM_OK && b < len; b += nb)
            s = flm_eval(ctx, toks + c + b, len - b < nb ? len - b : nb, true, err);
    }
    return s;
}

// ---------------------------------------------------------------- layer sensitivities

static void log_softmax(const float *x, int32_t n, float *out) {
    float mx = -FLT_MAX;
    for (int32_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)(x[i] - mx));
    const float lse = mx + (float)log(s);
    for (int32_t i = 0; i < n; i++) out[i] = x[i] - lse;
}

// Runs toks[0..n) from an empty cache. ref NULL: stores the log-probs of
// every token in lp ([n][n_vocab]); else returns in *kl the mean KL divergence
// of this pass's distributions from ref's (lp: [n_vocab] scratch).
static flm_status probe_pass(struct flm_context *ctx, const int32_t *toks, int32_t n, const float *ref, float *lp,
                             double *kl, struct flm_err *err) {
    const int32_t V = ctx->model->hp.n_vocab, nb = flm_context_n_batch(ctx);
    double sum = 0;
    flm_status s = flm_context_truncate(ctx, 0, err);
    for (int32_t b = 0; s == FLM_OK && b < n; b += nb) {
        const int32_t len = n - b < nb ? n - b : nb;
        if ((s = flm_eval(ctx, toks + b, len, true, err))) break;
        for (int32_t t = 0; t < len; t++) {
            const float *x = flm_get_logits(ctx, t);
            if (!ref) {
                log_softmax(x, V, lp + (size_t)(b + t) * V);
                continue;
            }
            log_softmax(x, V, lp);
            const float *p = ref + (size_t)(b + t) * V;
            for (int32_t i = 0; i < V; i++) sum += exp((double)p[i]) * ((double)p[i] - lp[i]);
        }
    }
    if (kl) *kl = sum / n;
    return s;
}

// Sets each layer's gain to sqrt(KL_l / energy_l): KL_l measured on
// toks[0..n) (n at most the dense context's n_ctx) with only layer l sparse
// at PROBE_LEVEL under chess-cond thresholds, energy_l the error energy the
// statistics predict for those thresholds. The model's thresholds are
// pointed at memory of this function's and cleared again before it returns.
static flm_status measure_gains(struct flm_model *m, struct flm_context *dense, struct flm_sparse_calib *calib,
                                const int32_t *toks, int32_t n, int32_t n_threads, struct flm_err *err) {
    const int32_t L = m->hp.n_layer, F = m->hp.n_ff, V = m->hp.n_vocab;
    const int32_t P = n < PROBE_TOKENS ? n : PROBE_TOKENS;
    const float level = PROBE_LEVEL;
    const enum flm_sparse_method base = FLM_SPARSE_CHESS_COND;
    float *thr = malloc((size_t)L * F * sizeof *thr), *ref = malloc((size_t)P * V * sizeof *ref);
    float *lp = malloc((size_t)V * sizeof *lp);
    const float **ptr = calloc((size_t)L, sizeof *ptr);
    struct flm_context *sc = NULL;
    flm_status s = thr && ref && lp && ptr ? FLM_OK : flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
    if (s == FLM_OK) s = flm_sparse_calib_thresholds(calib, base, &level, 1, thr, err);
    if (s == FLM_OK) s = probe_pass(dense, toks, P, NULL, ref, NULL, err);
    const struct flm_sparse_levels lv = {1, {level}}, none = {0};
    flm_model_sparse_set(m, &lv, ptr);
    if (s == FLM_OK) {
        struct flm_context_params cp = flm_context_params_default();
        cp.n_ctx = P;
        cp.n_threads = n_threads;
        cp.sparsity = level;
        s = flm_context_init(&sc, m, &cp, err);
    }
    for (int32_t il = 0; s == FLM_OK && il < L; il++) {
        double kl = 0;
        ptr[il] = thr + (size_t)il * F;
        flm_model_sparse_set(m, &lv, ptr);
        s = probe_pass(sc, toks, P, ref, lp, &kl, err);
        ptr[il] = NULL;
        const double e = flm_sparse_calib_energy(calib, base, il, thr + (size_t)il * F);
        if (s == FLM_OK) flm_sparse_calib_set_gain(calib, il, sqrt((kl > 1e-12 ? kl : 1e-12) / (e > 1e-30 ? e : 1e-30)));
    }
    flm_model_sparse_set(m, &none, NULL);
    flm_context_free(sc);
    free(thr), free(ref), free(lp), free(ptr);
    return s;
}

// ---------------------------------------------------------------- calibration

flm_status flm_calibrate(const char *model_path, const char *text, size_t len, const char *out_path,
                         const struct flm_calib_params *params, int32_t *n_used, struct flm_err *err) {
    struct flm_calib_params p = params ? *params : flm_calib_params_default();
    if (!model_path || !text || !out_path) return flm_err_set(err, FLM_ERR_INVALID, "calibrate: NULL argument");
    if (p.n_tokens < 1 || p.chunk_len < 1 || p.n_levels < 1 || p.n_levels > FLM_SPARSE_MAX_LEVELS)
        return flm_err_set(err, FLM_ERR_INVALID, "calibrate: n_tokens %d, chunk_len %d, n_levels %d out of range",
                           p.n_tokens, p.chunk_len, p.n_levels);
    const int method = flm_sparse_method_parse(p.method ? p.method : "chess-cond");
    if (method < 0)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "calibrate: unknown method '%s' (chess-cond, global, chess-down, chess or cats)", p.method);
    struct flm_model *m = NULL;
    struct flm_context *ctx = NULL;
    struct flm_sparse_calib *calib = NULL;
    int32_t *toks = NULL;
    float *thr = NULL;
    struct hook h = {0};
    flm_status s = flm_sparse_check_output(model_path, out_path, err);
    if (s == FLM_OK) s = flm_model_open(&m, model_path, NULL, err);
    int32_t n = 0;
    if (s == FLM_OK) {
        flm_tokenize(m, text, len, true, false, NULL, 0, &n, NULL);
        if (n < 2) s = flm_err_set(err, FLM_ERR_INVALID, "calibrate: the calibration text has %d tokens, too few", n);
    }
    if (s == FLM_OK && !(toks = malloc((size_t)n * sizeof *toks))) s = flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
    if (s == FLM_OK) s = flm_tokenize(m, text, len, true, false, toks, n, &n, err);
    if (s == FLM_OK) {
        if (n > p.n_tokens) n = p.n_tokens;
        const int32_t chunk = p.chunk_len < m->hp.n_ctx_train ? p.chunk_len : m->hp.n_ctx_train;
        p.chunk_len = chunk;
        struct flm_context_params cp = flm_context_params_default();
        cp.n_ctx = chunk;
        cp.n_threads = p.n_threads;
        s = flm_context_init(&ctx, m, &cp, err);
    }
    if (s == FLM_OK) s = flm_sparse_calib_init(&calib, m->hp.n_layer, m->hp.n_ff, err);
    if (s == FLM_OK) {
        const size_t sz = (size_t)flm_context_n_batch(ctx) * (size_t)m->hp.n_ff;
        h = (struct hook){ctx, calib, malloc(sz * sizeof(float)), malloc(sz * sizeof(float))};
        thr = malloc((size_t)m->hp.n_layer * (size_t)p.n_levels * (size_t)m->hp.n_ff * sizeof *thr);
        if (!h.act || !h.ones || !thr) s = flm_err_set(err, FLM_ERR_NOMEM, "calibrate: out of memory");
        for (size_t i = 0; s == FLM_OK && i < sz; i++) h.ones[i] = 1.0f;
    }
    if (s == FLM_OK && method == FLM_SPARSE_CHESS_DOWN) s = add_down_norms(m, calib, err);
    if (s == FLM_OK) {
        ctx->trace = on_trace;
        ctx->trace_user = &h;
        s = run_text(ctx, toks, n, p.chunk_len, err);
    }
    if (ctx) ctx->trace = NULL;
    if (s == FLM_OK && method == FLM_SPARSE_GLOBAL)
        s = measure_gains(m, ctx, calib, toks, n < p.chunk_len ? n : p.chunk_len, p.n_threads, err);
    if (s == FLM_OK)
        s = flm_sparse_calib_thresholds(calib, (enum flm_sparse_method)method, p.levels, p.n_levels, thr, err);
    if (s == FLM_OK)
        s = flm_sparse_write(m->gguf, model_path, out_path, (enum flm_sparse_method)method, p.levels, p.n_levels,
                             m->hp.n_layer, m->hp.n_ff, (uint32_t)n, thr, err);
    if (n_used) *n_used = s == FLM_OK ? n : 0;
    free(thr);
    free(h.act);
    free(h.ones);
    flm_sparse_calib_free(calib);
    free(toks);
    flm_context_free(ctx);
    flm_model_free(m);
    return s;
}
