// calibrate.c - activation statistics of a model on a text, turned into
// sparsity thresholds and written into a copy of the model file.
//
// The dense forward pass is run with its trace hook: each layer's gate
// pre-activation ("ffn_gate") and up projection ("ffn_up") go into the
// sparse/ histograms; all rows are kept to the last layer (all_logits).
#include "flashlm.h"

#include "model/context.h"
#include "sparse/sparse.h"

#include <stdlib.h>
#include <string.h>

struct flm_calib_params flm_calib_params_default(void) {
    return (struct flm_calib_params){.n_tokens = 8192, .chunk_len = 512, .n_levels = 5,
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

flm_status flm_calibrate(const char *model_path, const char *text, size_t len, const char *out_path,
                         const struct flm_calib_params *params, int32_t *n_used, struct flm_err *err) {
    struct flm_calib_params p = params ? *params : flm_calib_params_default();
    if (!model_path || !text || !out_path) return flm_err_set(err, FLM_ERR_INVALID, "calibrate: NULL argument");
    if (p.n_tokens < 1 || p.chunk_len < 1 || p.n_levels < 1 || p.n_levels > FLM_SPARSE_MAX_LEVELS)
        return flm_err_set(err, FLM_ERR_INVALID, "calibrate: n_tokens %d, chunk_len %d, n_levels %d out of range",
                           p.n_tokens, p.chunk_len, p.n_levels);
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
    if (s == FLM_OK) {
        ctx->trace = on_trace;
        ctx->trace_user = &h;
        s = run_text(ctx, toks, n, p.chunk_len, err);
    }
    if (s == FLM_OK)
        s = flm_sparse_calib_thresholds(calib, p.per_layer ? FLM_SPARSE_PER_LAYER : FLM_SPARSE_CHESS, p.levels,
                                        p.n_levels, thr, err);
    if (s == FLM_OK)
        s = flm_sparse_write(m->gguf, model_path, out_path, p.per_layer ? FLM_SPARSE_PER_LAYER : FLM_SPARSE_CHESS,
                             p.levels, p.n_levels, m->hp.n_layer, m->hp.n_ff, (uint32_t)n, thr, err);
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
