// forward.c - the shared decoder block that runs every architecture:
// embeddings -> per layer: norm, q/k/v, (biases), (q/k norms), RoPE, KV
// append, attention, output projection, (post-norm), residual, norm, gated
// FFN, (post-norm), residual -> final norm -> LM head.
#include "model/context.h"

#include "core/fp16.h"
#include "kernels/attention.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- helpers

static void trace(struct flm_context *c, const char *name, int il, const float *x, size_t n) {
    if (c->trace) c->trace(c->trace_user, name, il, x, n);
}

static bool layer_slides(const struct flm_hparams *hp, int il) {
    return hp->n_swa > 0 && hp->swa_pattern > 0 && (il + 1) % hp->swa_pattern != 0;
}

static void add_bias(float *y, const float *b, int n_tok, int dim) {
    if (!b) return;
    for (int t = 0; t < n_tok; t++) flm_add(y + (size_t)t * dim, b, dim);
}

static void norm_rows(float *y, const float *x, const float *w, int n_rows, int dim, float eps) {
    for (int t = 0; t < n_rows; t++) flm_rmsnorm(y + (size_t)t * dim, x + (size_t)t * dim, w, dim, eps);
}

// flm_matmul, or in a row_order eval the one-token kernel for every row.
static void matmul(struct flm_context *c, const struct flm_mat *w, const float *x, int n, float *y) {
    (c->row_order ? flm_matmul_single_order : flm_matmul)(c->pool, w, x, n, y, c->qscratch);
}

static void store_f16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = flm_f32_to_f16(src[i]);
}

// ---------------------------------------------------------------- attention

struct attn_job {
    struct flm_context *c;
    int                 il, n;
    float               scale;
};

static void attn_worker(void *arg, int ith, int nth) {
    const struct attn_job *job = arg;
    struct flm_context *c = job->c;
    const struct flm_hparams *hp = &c->model->hp;
    const size_t kdim = (size_t)hp->n_head_kv * hp->head_dim, vdim = (size_t)hp->n_head_kv * hp->head_dim_v;
    const int group = hp->n_head / hp->n_head_kv;
    const bool slides = layer_slides(hp, job->il);
    long lo, hi;
    flm_split((long)job->n * hp->n_head, ith, nth, &lo, &hi);
    for (long w = lo; w < hi; w++) {
        const int t = (int)(w / hp->n_head), h = (int)(w % hp->n_head), hk = h / group;
        const int pos = c->row_pos[t];
        const size_t layer = (size_t)c->row_seq[t] * hp->n_layer + (size_t)job->il;
        const uint16_t *kc = c->k_cache + layer * c->n_ctx * kdim;
        const uint16_t *vc = c->v_cache + layer * c->n_ctx * vdim;
        struct flm_attn_args a = {
            .q = c->q + ((size_t)t * hp->n_head + h) * hp->head_dim,
            .k = kc + (size_t)hk * hp->head_dim,
            .v = vc + (size_t)hk * hp->head_dim_v,
            .k_stride = kdim,
            .v_stride = vdim,
            .head_dim = hp->head_dim,
            .head_dim_v = hp->head_dim_v,
            .j0 = slides && pos >= hp->n_swa ? pos - hp->n_swa + 1 : 0,
            .j1 = pos,
            .scale = job->scale,
            .single = c->row_single[t],
        };
        flm_attention_head(&a, c->scores + (size_t)ith * c->n_ctx, c->qh + (size_t)ith * hp->head_dim,
                           c->att + ((size_t)t * hp->n_head + h) * hp->head_dim_v);
    }
}

// Moves the kept rows (ascending indices) of a [n][dim] matrix to its front.
static void keep_rows(float *x, const int32_t *keep, int n_keep, int dim) {
    for (int i = 0; i < n_keep; i++)
        if (keep[i] != i) memmove(x + (size_t)i * dim, x + (size_t)keep[i] * dim, sizeof(float) * (size_t)dim);
}

// Attention of n rows; returns the rows that go on: all n, or in the last
// layer only the n_keep whose logits are wanted (llama.cpp drops the others
// there, which also decides its kernels' row counts).
static int attention_block(struct flm_context *c, const struct flm_layer *l, int il, int n, int n_keep) {
    const struct flm_hparams *hp = &c->model->hp;
    const int E = hp->n_embd, qd = hp->n_head * hp->head_dim;
    const int kd = hp->n_head_kv * hp->head_dim, vd = hp->n_head_kv * hp->head_dim_v;
    const bool slides = layer_slides(hp, il);
    const float base = slides ? hp->rope_base_swa : hp->rope_base;
    const float fscale = slides ? hp->rope_scale_swa : hp->rope_scale;

    norm_rows(c->xb, c->x, l->attn_norm, n, E, hp->rms_eps);
    trace(c, "attn_norm", il, c->xb, (size_t)n * E);
    matmul(c, &l->wq, c->xb, n, c->q);
    matmul(c, &l->wk, c->xb, n, c->k);
    matmul(c, &l->wv, c->xb, n, c->v);
    trace(c, "Qcur", il, c->q, (size_t)n * qd);
    trace(c, "Kcur", il, c->k, (size_t)n * kd);
    trace(c, "Vcur", il, c->v, (size_t)n * vd);
    add_bias(c->q, l->bq, n, qd);
    add_bias(c->k, l->bk, n, kd);
    add_bias(c->v, l->bv, n, vd);
    for (int t = 0; t < n; t++) {
        float *q = c->q + (size_t)t * qd, *k = c->k + (size_t)t * kd;
        if (l->q_norm) norm_rows(q, q, l->q_norm, hp->n_head, hp->head_dim, hp->rms_eps);
        if (l->k_norm) norm_rows(k, k, l->k_norm, hp->n_head_kv, hp->head_dim, hp->rms_eps);
        const int pos = c->row_pos[t];
        flm_rope(q, hp->n_head, hp->head_dim, hp->n_rot, pos, base, fscale, hp->rope_kind);
        flm_rope(k, hp->n_head_kv, hp->head_dim, hp->n_rot, pos, base, fscale, hp->rope_kind);
        if (hp->q_scale != 0.0f) flm_scale(q, hp->q_scale, qd);
        const size_t slot = ((size_t)c->row_seq[t] * hp->n_layer + (size_t)il) * c->n_ctx + (size_t)pos;
        store_f16(c->k_cache + slot * kd, k, (size_t)kd);
        store_f16(c->v_cache + slot * vd, c->v + (size_t)t * vd, (size_t)vd);
    }
    trace(c, "Qrope", il, c->q, (size_t)n * qd);
    trace(c, "Krope", il, c->k, (size_t)n * kd);
    struct attn_job job = {c, il, n, hp->q_scale != 0.0f ? 1.0f : 1.0f / sqrtf((float)hp->head_dim)};
    flm_pool_run(c->pool, attn_worker, &job);
    trace(c, "kqv_out", il, c->att, (size_t)n * hp->n_head * hp->head_dim_v);
    matmul(c, &l->wo, c->att, n, c->xb2);
    trace(c, "attn_out", il, c->xb2, (size_t)n * E);
    if (il == hp->n_layer - 1 && n_keep < n) {
        keep_rows(c->xb2, c->keep, n_keep, E);
        keep_rows(c->x, c->keep, n_keep, E);
        n = n_keep;
    }
    if (l->post_attn_norm) {
        norm_rows(c->xb2, c->xb2, l->post_attn_norm, n, E, hp->rms_eps);
        trace(c, "attn_post_norm", il, c->xb2, (size_t)n * E);
    }
    flm_add(c->x, c->xb2, (int64_t)n * E);
    trace(c, "ffn_inp", il, c->x, (size_t)n * E);
    return n;
}

// ---------------------------------------------------------------- FFN

// gate, up, act(gate) * up, down for all n_ff neurons: c->xb -> c->xb2.
static void ffn_dense(struct flm_context *c, const struct flm_layer *l, int il, int n) {
    const struct flm_hparams *hp = &c->model->hp;
    const int64_t F = (int64_t)n * hp->n_ff;
    matmul(c, &l->w_gate, c->xb, n, c->hb);
    matmul(c, &l->w_up, c->xb, n, c->hb2);
    trace(c, "ffn_gate", il, c->hb, (size_t)F);
    trace(c, "ffn_up", il, c->hb2, (size_t)F);
    if (hp->act == FLM_ACT_GELU)
        flm_geglu_table(c->hb, c->hb, c->hb2, F, c->model->gelu_table);
    else
        for (int t = 0; t < n; t++) {
            const size_t o = (size_t)t * hp->n_ff;
            flm_swiglu(c->hb + o, c->hb + o, c->hb2 + o, hp->n_ff);
        }
    trace(c, hp->act == FLM_ACT_GELU ? "ffn_geglu" : "ffn_swiglu", il, c->hb, (size_t)F);
    matmul(c, &l->w_down, c->hb, n, c->xb2);
}

static flm_status ffn_block(struct flm_context *c, const struct flm_layer *l, int il, int n, struct flm_err *err) {
    const struct flm_hparams *hp = &c->model->hp;
    const int E = hp->n_embd;
    norm_rows(c->xb, c->x, l->ffn_norm, n, E, hp->rms_eps);
    trace(c, "ffn_norm", il, c->xb, (size_t)n * E);
    if (c->sparse_level >= 0 && l->sparse_thr) {  // a layer without thresholds stays dense (calibration's probes)
        flm_status st = flm_ffn_sparse(c, l, il, n, err);  // model/ffn_sparse.c
        if (st) return st;
    } else {
        ffn_dense(c, l, il, n);
    }
    trace(c, "ffn_out", il, c->xb2, (size_t)n * E);
    if (l->post_ffn_norm) {
        norm_rows(c->xb2, c->xb2, l->post_ffn_norm, n, E, hp->rms_eps);
        trace(c, "ffn_post_norm", il, c->xb2, (size_t)n * E);
    }
    flm_add(c->x, c->xb2, (int64_t)n * E);
    trace(c, "l_out", il, c->x, (size_t)n * E);
    return FLM_OK;
}

// ---------------------------------------------------------------- whole pass

// Token embeddings: each row from the store (resident, or read on demand).
static flm_status embed(struct flm_context *c, const int32_t *tokens, int n, struct flm_err *err) {
    const struct flm_model *m = c->model;
    const int E = m->hp.n_embd;
    for (int t = 0; t < n; t++) {
        float *xt = c->x + (size_t)t * E;
        const void *row = flm_store_row(m->store, m->sid_embd, tokens[t], err);
        if (!row) return err->status;
        struct flm_mat one = m->tok_embd;
        one.data = row;
        flm_mat_row_to_float(&one, 0, xt);
        if (m->hp.embd_scale != 1.0f) flm_scale(xt, m->hp.embd_scale, E);
    }
    trace(c, "inp_embd", -1, c->x, (size_t)n * E);
    return FLM_OK;
}

// The LM head, in the row ranges the store holds it in (one when resident).
static flm_status lm_head(struct flm_context *c, int rows, float *logits, struct flm_err *err) {
    const struct flm_model *m = c->model;
    const int group = m->hp.n_layer, parts = flm_store_n_parts(m->store, m->sid_output);
    for (int p = 0; p < parts; p++) {
        flm_status st = flm_store_acquire(m->store, group, p, err);
        if (st) return st;
        struct flm_mat w = m->output;
        int64_t r0;
        w.data = flm_store_view(m->store, m->sid_output, p, &r0, &w.n_rows);
        flm_matmul_ld(c->pool, &w, c->xb, rows, logits + r0, (size_t)m->hp.n_vocab, c->qscratch, c->row_order);
        flm_store_release(m->store, group, p);
    }
    return FLM_OK;
}

static flm_status forward_impl(struct flm_context *c, const int32_t *tokens, int n, int n_keep, float *logits,
                               struct flm_err *err) {
    const struct flm_model *m = c->model;
    const struct flm_hparams *hp = &m->hp;
    const int E = hp->n_embd;
    flm_status st = embed(c, tokens, n, err);
    if (st) return st;
    int rows = n;
    for (int il = 0; il < hp->n_layer; il++) {
        if (c->layers && !c->layers[il]) continue;
        if ((st = flm_store_acquire(m->store, il, 0, err))) return st;
        struct flm_layer tmp;
        const struct flm_layer *l = flm_model_layer(m, il, &tmp);
        rows = attention_block(c, l, il, rows, n_keep);
        if (rows) st = ffn_block(c, l, il, rows, err);
        flm_store_release(m->store, il, 0);
        if (st) return st;
        if (rows == 0) return FLM_OK;  // no logits wanted from this pass: its K/V are stored
    }
    if (n_keep < rows) {  // a layer subset without the last layer keeps every row until here
        keep_rows(c->x, c->keep, n_keep, E);
        rows = n_keep;
    }
    if (rows == 0) return FLM_OK;
    // Only the rows whose logits are wanted are left for the LM head.
    norm_rows(c->xb, c->x, m->output_norm, rows, E, hp->rms_eps);
    trace(c, "result_norm", -1, c->xb, (size_t)rows * E);
    if ((st = lm_head(c, rows, logits, err))) return st;
    trace(c, "result_output", -1, logits, (size_t)rows * hp->n_vocab);
    return FLM_OK;
}

flm_status flm_forward(struct flm_context *c, const int32_t *tokens, int n, int n_keep, float *logits,
                       struct flm_err *err) {
    flm_store_begin(c->model->store);
    flm_status st = forward_impl(c, tokens, n, n_keep, logits, err);
    flm_store_end(c->model->store);
    return st;
}
