// ffn_sparse.c - the gated FFN with activation sparsity (CHESS thresholds):
// gate for all neurons, then per token the mask of neurons whose |act(gate)|
// reaches their threshold, up only for those rows and down only for the
// column blocks that hold them, or, in a file with row-column bundles, up
// rows and down columns from the live neurons' bundles only: in memory, or
// under a budget from the store's neuron cache (the same rows, in cache
// slots; the same float steps, so the same bits). The dense FFN
// (forward.c) is untouched; this path runs only when a context asks for a
// sparsity level.
#include "model/context.h"

#include "kernels/matmul_sparse.h"

#include <string.h>

static void trace(struct flm_context *c, const char *name, int il, const float *x, size_t n) {
    if (c->trace) c->trace(c->trace_user, name, il, x, n);
}

// act(gate) in place, through the gated kernels with a gate of ones (x * 1 is exact).
static void activate(struct flm_context *c, float *a, int64_t n) {
    if (c->model->hp.act == FLM_ACT_GELU) flm_geglu_table(a, a, c->ones, n, c->model->gelu_table);
    else flm_swiglu(a, a, c->ones, n);
}

static void count(struct flm_context *c, const struct flm_layer *l, int il, int32_t n_live, int32_t n_blocks) {
    const struct flm_hparams *hp = &c->model->hp;
    struct flm_sparse_stats *s = &c->sparse_stats;
    const uint64_t gate = (uint64_t)l->w_gate.n_rows * l->w_gate.row_bytes;
    const uint64_t up = (uint64_t)l->w_up.n_rows * l->w_up.row_bytes;
    const uint64_t down = (uint64_t)l->w_down.n_rows * l->w_down.row_bytes;
    const int64_t bs = flm_matmul_col_block(&l->w_down);
    s->n_token_layers++;
    s->n_neurons += hp->n_ff;
    s->n_live += n_live;
    s->bytes_dense += gate + up + down;
    if (l->bundle_up.row_bytes)  // one bundle row per live neuron
        s->bytes_sparse += gate + (uint64_t)n_live * l->bundle_up.row_bytes;
    else
        s->bytes_sparse += gate + (uint64_t)n_live * l->w_up.row_bytes +
                           (uint64_t)l->w_down.n_rows * (uint64_t)n_blocks * flm_type_row_size(l->w_down.type, bs);
    const size_t bundle = l->bundle_up.row_bytes ? l->bundle_up.row_bytes
                                            : flm_sparse_bundle_bytes(l->w_up.type, FLM_TYPE_Q8_0, hp->n_embd);
    s->bytes_bundled += gate + (uint64_t)n_live * flm_sparse_bundle_bytes(l->w_up.type, FLM_TYPE_Q8_0, hp->n_embd);
    if (c->windows) {  // what a store caching the window's neurons would read
        struct flm_neuron_window *w = &c->windows[il];
        const int32_t n_fresh = flm_sparse_window_update(w, &c->mask, c->fresh);
        s->n_fresh += n_fresh;
        s->bytes_window += gate + (uint64_t)n_fresh * bundle;
        s->n_cached += w->n_cached;
    }
}

// Up and down of token row t's live neurons from the store's neuron cache,
// at most its capacity at a time: each part's up rows, their products with
// act, and down accumulated onto the parts before, in the order of live.
static flm_status from_cache(struct flm_context *c, const struct flm_layer *l, int il, const float *x, float *a,
                             float *u, int32_t n_live, float *y, struct flm_err *err) {
    struct flm_store *store = c->model->store;
    const int32_t cap = flm_store_neuron_capacity(store);
    const int32_t *live = c->mask.live;
    if (n_live == 0) flm_matmul_t_rows(c->pool, &l->bundle_down, a, live, 0, y);  // zeros
    for (int32_t k0 = 0; k0 < n_live; k0 += cap) {
        const int32_t nk = n_live - k0 < cap ? n_live - k0 : cap;
        size_t stride;
        const char *base = flm_store_neurons(store, il, live + k0, nk, k0 == 0, c->slots, &stride, err);
        if (!base) return err->status;
        struct flm_mat up = l->bundle_up, down = l->bundle_down;
        up.data = base, up.row_bytes = stride;
        down.data = base + l->w_up.row_bytes, down.row_bytes = stride;
        flm_matmul_rows_at(c->pool, &up, x, live + k0, c->slots, nk, u, c->qscratch);
        for (int32_t k = k0; k < k0 + nk; k++) a[live[k]] *= u[live[k]];
        flm_matmul_t_rows_at(c->pool, &down, a, live + k0, c->slots, nk, y, k0 > 0);
    }
    return FLM_OK;
}

flm_status flm_ffn_sparse(struct flm_context *c, const struct flm_layer *l, int il, int n, struct flm_err *err) {
    const struct flm_hparams *hp = &c->model->hp;
    const int E = hp->n_embd, F = hp->n_ff;
    const float *thr = l->sparse_thr + (size_t)c->sparse_level * (size_t)F;
    const int64_t bs = flm_matmul_col_block(&l->w_down);
    flm_matmul(c->pool, &l->w_gate, c->xb, n, c->hb, c->qscratch);
    trace(c, "ffn_gate", il, c->hb, (size_t)n * F);
    for (int t = 0; t < n; t++) {
        float *a = c->hb + (size_t)t * F, *u = c->hb2 + (size_t)t * F;
        activate(c, a, F);
        const int32_t n_live = flm_sparse_mask_fill(&c->mask, a, thr);
        const bool bundled = l->bundle_up.data != NULL;
        memset(u, 0, sizeof(float) * (size_t)F);
        if (!bundled && flm_store_neuron_group(c->model->store, il)) {
            flm_status st = from_cache(c, l, il, c->xb + (size_t)t * E, a, u, n_live, c->xb2 + (size_t)t * E, err);
            if (st) return st;
            count(c, l, il, n_live, flm_sparse_mask_blocks(&c->mask, (int32_t)bs, c->block_live));
            continue;
        }
        flm_matmul_rows(c->pool, bundled ? &l->bundle_up : &l->w_up, c->xb + (size_t)t * E, c->mask.live, n_live, u,
                        c->qscratch);
        for (int32_t k = 0; k < n_live; k++) a[c->mask.live[k]] *= u[c->mask.live[k]];
        const int32_t n_blocks = flm_sparse_mask_blocks(&c->mask, (int32_t)bs, c->block_live);
        if (bundled) flm_matmul_t_rows(c->pool, &l->bundle_down, a, c->mask.live, n_live, c->xb2 + (size_t)t * E);
        else flm_matmul_cols(c->pool, &l->w_down, a, c->block_live, c->xb2 + (size_t)t * E, c->qscratch);
        count(c, l, il, n_live, n_blocks);
    }
    trace(c, "ffn_up", il, c->hb2, (size_t)n * F);
    trace(c, hp->act == FLM_ACT_GELU ? "ffn_geglu" : "ffn_swiglu", il, c->hb, (size_t)n * F);
    return FLM_OK;
}
