// context.c - context lifetime and flm_eval: checks, batching, logits.
#include "model/context.h"

#include <stdlib.h>
#include <string.h>

struct flm_context_params flm_context_params_default(void) {
    return (struct flm_context_params){.n_ctx = 0, .n_batch = 64, .n_threads = 0, .n_logits = 0};
}

static size_t max_scratch(const struct flm_model *m, int n) {
    size_t best = flm_matmul_scratch_bytes(m->output.type, m->hp.n_embd, n);
    for (int il = 0; il < m->hp.n_layer; il++) {
        const struct flm_layer *l = &m->layers[il];
        const struct flm_mat *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            size_t b = flm_matmul_scratch_bytes(mats[i]->type, mats[i]->n_cols, n);
            best = b > best ? b : best;
        }
    }
    return best;
}

static void *alloc_n(size_t n, size_t size, bool *ok) {
    void *p = calloc(n ? n : 1, size);
    if (!p) *ok = false;
    return p;
}

flm_status flm_context_init(struct flm_context **out, const struct flm_model *m, const struct flm_context_params *params,
                            struct flm_err *err) {
    if (!out || !m) return flm_err_set(err, FLM_ERR_INVALID, "context: NULL argument");
    *out = NULL;
    struct flm_context_params p = params ? *params : flm_context_params_default();
    const struct flm_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0 || p.n_logits < 0)
        return flm_err_set(err, FLM_ERR_INVALID, "context: n_ctx, n_batch, n_threads and n_logits must not be negative");
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx > hp->n_ctx_train)
        return flm_err_set(err, FLM_ERR_INVALID, "context: n_ctx %d exceeds the model's training context %d", p.n_ctx,
                           hp->n_ctx_train);
    if (p.n_batch == 0) p.n_batch = 64;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_logits == 0 || p.n_logits > p.n_batch) p.n_logits = p.n_batch;

    struct flm_context *c = calloc(1, sizeof *c);
    if (!c) return flm_err_set(err, FLM_ERR_NOMEM, "context: out of memory");
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_logits_max = p.n_logits;
    flm_status st = flm_pool_init(&c->pool, p.n_threads, err);
    if (st) {
        free(c);
        return st;
    }
    const int nt = flm_pool_size(c->pool);
    const size_t nb = (size_t)p.n_batch, nctx = (size_t)p.n_ctx, L = (size_t)hp->n_layer;
    const size_t kdim = (size_t)hp->n_head_kv * hp->head_dim, vdim = (size_t)hp->n_head_kv * hp->head_dim_v;
    const size_t memory =
        (L * nctx * (kdim + vdim)) * sizeof(uint16_t) +
        nb * (3 * (size_t)hp->n_embd + (size_t)hp->n_head * hp->head_dim + kdim + vdim +
              (size_t)hp->n_head * hp->head_dim_v + 2 * (size_t)hp->n_ff) * sizeof(float) +
        (size_t)p.n_logits * hp->n_vocab * sizeof(float) + (size_t)nt * (nctx * sizeof(float) + (size_t)hp->head_dim * sizeof(uint16_t)) + max_scratch(m, p.n_batch);
    if ((st = flm_model_reserve(m, memory, err))) {  // the first context also commits the weight store
        flm_pool_free(c->pool);
        free(c);
        return st;
    }
    c->memory = memory;
    bool ok = true;
    c->k_cache = alloc_n(L * nctx * kdim, sizeof(uint16_t), &ok);
    c->v_cache = alloc_n(L * nctx * vdim, sizeof(uint16_t), &ok);
    c->x = alloc_n(nb * hp->n_embd, sizeof(float), &ok);
    c->xb = alloc_n(nb * hp->n_embd, sizeof(float), &ok);
    c->xb2 = alloc_n(nb * hp->n_embd, sizeof(float), &ok);
    c->q = alloc_n(nb * hp->n_head * hp->head_dim, sizeof(float), &ok);
    c->k = alloc_n(nb * kdim, sizeof(float), &ok);
    c->v = alloc_n(nb * vdim, sizeof(float), &ok);
    c->att = alloc_n(nb * hp->n_head * hp->head_dim_v, sizeof(float), &ok);
    c->hb = alloc_n(nb * hp->n_ff, sizeof(float), &ok);
    c->hb2 = alloc_n(nb * hp->n_ff, sizeof(float), &ok);
    c->scores = alloc_n((size_t)nt * nctx, sizeof(float), &ok);
    c->qh = alloc_n((size_t)nt * hp->head_dim, sizeof(uint16_t), &ok);
    c->qscratch = alloc_n(max_scratch(m, p.n_batch), 1, &ok);
    c->logits = alloc_n((size_t)p.n_logits * hp->n_vocab, sizeof(float), &ok);
    if (!ok) {
        flm_context_free(c);
        return flm_err_set(err, FLM_ERR_NOMEM, "context: out of memory for n_ctx %d, n_batch %d", p.n_ctx, p.n_batch);
    }
    *out = c;
    return FLM_OK;
}

void flm_context_free(struct flm_context *c) {
    if (!c) return;
    flm_model_unreserve(c->model, c->memory);
    flm_pool_free(c->pool);
    void *bufs[] = {c->k_cache, c->v_cache, c->x, c->xb, c->xb2, c->q, c->k, c->v, c->att,
                    c->hb, c->hb2, c->scores, c->qh, c->qscratch, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c);
}

int32_t flm_context_n_ctx(const struct flm_context *c) { return c->n_ctx; }
size_t flm_context_memory(const struct flm_context *c) { return c->memory; }
int32_t flm_context_n_batch(const struct flm_context *c) { return c->n_batch; }
const struct flm_model *flm_context_model(const struct flm_context *c) { return c->model; }
int32_t flm_context_pos(const struct flm_context *c) { return c->pos; }

flm_status flm_context_truncate(struct flm_context *c, int32_t pos, struct flm_err *err) {
    if (pos < 0 || pos > c->pos)
        return flm_err_set(err, FLM_ERR_INVALID, "context: cannot truncate to %d (holds %d tokens)", pos, c->pos);
    c->pos = pos;
    c->n_logits = 0;
    return FLM_OK;
}

flm_status flm_eval(struct flm_context *c, const int32_t *tokens, int32_t n, bool all_logits, struct flm_err *err) {
    if (!c || (!tokens && n > 0) || n <= 0) return flm_err_set(err, FLM_ERR_INVALID, "eval: no tokens given");
    if (n > c->n_ctx - c->pos)
        return flm_err_set(err, FLM_ERR_CONTEXT,
                           "eval: %d tokens do not fit in the context: %d of %d positions are used", n, c->pos,
                           c->n_ctx);
    if (all_logits && n > c->n_logits_max)
        return flm_err_set(err, FLM_ERR_INVALID, "eval: logits of all %d tokens requested but the context keeps %d rows (n_logits)", n,
                           c->n_logits_max);
    const int32_t n_vocab = c->model->hp.n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return flm_err_set(err, FLM_ERR_INVALID, "eval: token %d at index %d is outside the vocabulary [0, %d)",
                               tokens[i], i, n_vocab);
    c->one_token = n == 1;
    struct flm_err local;
    for (int32_t done = 0; done < n;) {
        int chunk = n - done < c->n_batch ? n - done : c->n_batch;
        flm_status st = flm_forward(c, tokens + done, chunk, all_logits, err ? err : &local);
        if (st) {  // the tokens of this chunk are not in the cache
            c->n_logits = 0;
            return st;
        }
        c->pos += chunk;
        done += chunk;
    }
    c->all_logits = all_logits;
    c->n_logits = all_logits ? n : 1;
    return FLM_OK;
}

const float *flm_get_logits(const struct flm_context *c, int32_t i) {
    if (!c || c->n_logits == 0) return NULL;
    if (i < 0) i = c->n_logits - 1;
    if (i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * (size_t)c->model->hp.n_vocab;
}
