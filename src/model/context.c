// context.c - context lifetime and evaluation: checks, packing the tokens of
// one or more sequences into forward passes of n_batch rows, logits.
#include "model/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flm_context_params flm_context_params_default(void) {
    return (struct flm_context_params){.n_ctx = 0, .n_batch = 64, .n_threads = 0, .n_seq = 1, .n_logits = 0};
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
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0 || p.n_seq < 0 || p.n_logits < 0 || p.sparse_window < 0)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "context: n_ctx, n_batch, n_threads, n_seq, n_logits and sparse_window must not be negative");
    if (p.n_seq == 0) p.n_seq = 1;
    if (p.n_seq > FLM_MAX_SEQ)
        return flm_err_set(err, FLM_ERR_INVALID, "context: n_seq %d exceeds the limit of %d", p.n_seq, FLM_MAX_SEQ);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx > hp->n_ctx_train)
        return flm_err_set(err, FLM_ERR_INVALID, "context: n_ctx %d exceeds the model's training context %d", p.n_ctx,
                           hp->n_ctx_train);
    if (p.n_batch == 0) p.n_batch = 64;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_logits == 0 || p.n_logits > p.n_batch) p.n_logits = p.n_batch;

    int32_t level = -1;
    if (p.sparsity != 0.0f) {
        if (!(p.sparsity > 0.0f && p.sparsity < 100.0f))
            return flm_err_set(err, FLM_ERR_INVALID, "context: sparsity %g is not a level in (0, 1) or (0, 100)",
                               (double)p.sparsity);
        if ((level = flm_sparse_level_find(&m->sparse, p.sparsity, err)) < 0) return FLM_ERR_INVALID;
    }
    struct flm_context *c = calloc(1, sizeof *c);
    if (!c) return flm_err_set(err, FLM_ERR_NOMEM, "context: out of memory");
    c->sparse_level = level;
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->n_seq = p.n_seq;
    c->n_logits_max = p.n_logits;
    flm_status st = flm_pool_init(&c->pool, p.n_threads, err);
    if (st) {
        free(c);
        return st;
    }
    const int nt = flm_pool_size(c->pool);
    const size_t nb = (size_t)p.n_batch, nctx = (size_t)p.n_ctx, L = (size_t)hp->n_layer * (size_t)p.n_seq;
    const size_t kdim = (size_t)hp->n_head_kv * hp->head_dim, vdim = (size_t)hp->n_head_kv * hp->head_dim_v;
    const size_t memory =
        (L * nctx * (kdim + vdim)) * sizeof(uint16_t) +
        nb * (3 * (size_t)hp->n_embd + (size_t)hp->n_head * hp->head_dim + kdim + vdim +
              (size_t)hp->n_head * hp->head_dim_v + 2 * (size_t)hp->n_ff) * sizeof(float) +
        (size_t)p.n_logits * hp->n_vocab * sizeof(float) +
        (size_t)nt * (nctx * sizeof(float) + (size_t)hp->head_dim * sizeof(uint16_t)) + max_scratch(m, p.n_batch) +
        (level >= 0 ? (size_t)hp->n_ff * (2 * sizeof(int32_t) + 1 + sizeof(float)) : 0) +
        (level >= 0 && p.sparse_window > 0
             ? L * (sizeof(struct flm_neuron_window) + (size_t)hp->n_ff * sizeof(int64_t)) + (size_t)hp->n_ff * sizeof(int32_t)
             : 0);
    if ((st = flm_model_reserve(m, memory, level, p.sparse_window, err))) {  // the first context also commits the weight store
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
    c->seq_pos = alloc_n((size_t)p.n_seq, sizeof(int32_t), &ok);
    c->logit_first = alloc_n((size_t)p.n_seq, sizeof(int32_t), &ok);
    c->n_logits = alloc_n((size_t)p.n_seq, sizeof(int32_t), &ok);
    c->row_seq = alloc_n(nb, sizeof(int32_t), &ok);
    c->row_pos = alloc_n(nb, sizeof(int32_t), &ok);
    c->row_single = alloc_n(nb, 1, &ok);
    c->keep = alloc_n(nb, sizeof(int32_t), &ok);
    c->pass_tokens = alloc_n(nb, sizeof(int32_t), &ok);
    if (level >= 0) {
        c->mask = (struct flm_neuron_mask){.n_ff = hp->n_ff, .live = alloc_n((size_t)hp->n_ff, sizeof(int32_t), &ok)};
        c->block_live = alloc_n((size_t)hp->n_ff, 1, &ok);
        c->slots = alloc_n((size_t)hp->n_ff, sizeof(int32_t), &ok);
        c->ones = alloc_n((size_t)hp->n_ff, sizeof(float), &ok);
        for (int32_t i = 0; ok && i < hp->n_ff; i++) c->ones[i] = 1.0f;
        if (p.sparse_window > 0) {
            c->windows = alloc_n(L, sizeof *c->windows, &ok);
            c->window_last = alloc_n(L * (size_t)hp->n_ff, sizeof(int64_t), &ok);
            c->fresh = alloc_n((size_t)hp->n_ff, sizeof(int32_t), &ok);
            for (size_t il = 0; ok && il < L; il++) {
                c->windows[il] = (struct flm_neuron_window){.n_ff = hp->n_ff, .n_window = p.sparse_window,
                                                            .last = c->window_last + il * (size_t)hp->n_ff};
                for (int32_t i = 0; i < hp->n_ff; i++) c->windows[il].last[i] = -1;
            }
        }
    }
    if (!ok) {
        flm_context_free(c);
        return flm_err_set(err, FLM_ERR_NOMEM, "context: out of memory for n_ctx %d, n_batch %d, n_seq %d", p.n_ctx,
                           p.n_batch, p.n_seq);
    }
    *out = c;
    return FLM_OK;
}

void flm_context_free(struct flm_context *c) {
    if (!c) return;
    flm_model_unreserve(c->model, c->memory);
    flm_pool_free(c->pool);
    void *bufs[] = {c->k_cache, c->v_cache, c->x,        c->xb,       c->xb2,         c->q,
                    c->k,       c->v,       c->att,      c->hb,       c->hb2,         c->scores,
                    c->qh,      c->qscratch, c->logits,  c->seq_pos,  c->logit_first, c->n_logits,
                    c->row_seq, c->row_pos, c->row_single, c->keep,  c->pass_tokens,
                    c->mask.live, c->block_live, c->slots, c->ones, c->windows, c->window_last, c->fresh};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c);
}

int32_t flm_context_n_ctx(const struct flm_context *c) { return c->n_ctx; }
size_t flm_context_memory(const struct flm_context *c) { return c->memory; }
int32_t flm_context_n_batch(const struct flm_context *c) { return c->n_batch; }
const struct flm_model *flm_context_model(const struct flm_context *c) { return c->model; }
void flm_context_sparse_stats(const struct flm_context *c, struct flm_sparse_stats *out) { *out = c->sparse_stats; }
void flm_context_sparse_stats_reset(struct flm_context *c) { memset(&c->sparse_stats, 0, sizeof c->sparse_stats); }
int32_t flm_context_n_seq(const struct flm_context *c) { return c->n_seq; }
int32_t flm_context_pos(const struct flm_context *c) { return c->seq_pos[0]; }

int32_t flm_seq_pos(const struct flm_context *c, int32_t seq) {
    return c && seq >= 0 && seq < c->n_seq ? c->seq_pos[seq] : -1;
}

flm_status flm_seq_truncate(struct flm_context *c, int32_t seq, int32_t pos, struct flm_err *err) {
    if (!c || seq < 0 || seq >= c->n_seq)
        return flm_err_set(err, FLM_ERR_INVALID, "context: sequence %d is not in [0, %d)", seq, c ? c->n_seq : 0);
    if (pos < 0 || pos > c->seq_pos[seq])
        return flm_err_set(err, FLM_ERR_INVALID, "context: cannot truncate sequence %d to %d (holds %d tokens)", seq,
                           pos, c->seq_pos[seq]);
    c->seq_pos[seq] = pos;
    c->n_logits[seq] = 0;
    return FLM_OK;
}

flm_status flm_context_truncate(struct flm_context *c, int32_t pos, struct flm_err *err) {
    return flm_seq_truncate(c, 0, pos, err);
}

static flm_status check_items(const struct flm_context *c, const struct flm_seq_batch *items, int32_t n_items,
                              struct flm_err *err) {
    if (!c || !items || n_items <= 0) return flm_err_set(err, FLM_ERR_INVALID, "eval: no tokens given");
    const int32_t n_vocab = c->model->hp.n_vocab;
    int64_t n_keep = 0;
    for (int32_t k = 0; k < n_items; k++) {
        const struct flm_seq_batch *it = &items[k];
        if (it->seq < 0 || it->seq >= c->n_seq)
            return flm_err_set(err, FLM_ERR_INVALID, "eval: item %d names sequence %d, not in [0, %d)", k, it->seq,
                               c->n_seq);
        for (int32_t j = 0; j < k; j++)
            if (items[j].seq == it->seq)
                return flm_err_set(err, FLM_ERR_INVALID, "eval: sequence %d appears twice (items %d and %d)", it->seq,
                                   j, k);
        if (it->n_tokens <= 0 || !it->tokens)
            return flm_err_set(err, FLM_ERR_INVALID, "eval: no tokens given for sequence %d", it->seq);
        const int32_t used = c->seq_pos[it->seq];
        if (it->n_tokens > c->n_ctx - used) {
            if (c->n_seq == 1)
                return flm_err_set(err, FLM_ERR_CONTEXT,
                                   "eval: %d tokens do not fit in the context: %d of %d positions are used",
                                   it->n_tokens, used, c->n_ctx);
            return flm_err_set(err, FLM_ERR_CONTEXT,
                               "eval: %d tokens do not fit in the context of sequence %d: %d of %d positions are used",
                               it->n_tokens, it->seq, used, c->n_ctx);
        }
        for (int32_t i = 0; i < it->n_tokens; i++)
            if (it->tokens[i] < 0 || it->tokens[i] >= n_vocab)
                return flm_err_set(err, FLM_ERR_INVALID,
                                   "eval: token %d at index %d is outside the vocabulary [0, %d)", it->tokens[i], i,
                                   n_vocab);
        n_keep += it->all_logits ? it->n_tokens : 1;
    }
    if (n_keep > c->n_logits_max) {
        char lim[64];
        if (c->n_logits_max == c->n_batch) snprintf(lim, sizeof lim, "n_batch is %d", c->n_batch);
        else snprintf(lim, sizeof lim, "the context keeps %d (n_logits)", c->n_logits_max);
        if (n_items == 1)
            return flm_err_set(err, FLM_ERR_INVALID, "eval: logits of all %d tokens requested but %s",
                               items[0].n_tokens, lim);
        return flm_err_set(err, FLM_ERR_INVALID, "eval: %lld logits rows requested but %s", (long long)n_keep, lim);
    }
    return FLM_OK;
}

// Packs the items' tokens into passes of at most n_batch rows, in item
// order; each pass keeps the rows whose logits are wanted and appends their
// logits. A row advances its sequence by one position.
flm_status flm_eval_seqs(struct flm_context *c, const struct flm_seq_batch *items, int32_t n_items,
                         struct flm_err *err) {
    flm_status st = check_items(c, items, n_items, err);
    if (st) return st;
    const size_t n_vocab = (size_t)c->model->hp.n_vocab;
    for (int32_t s = 0; s < c->n_seq; s++) c->n_logits[s] = 0;
    int32_t n_out = 0;  // logits rows written
    int32_t k = 0, i = 0;  // next token: item k, index i
    while (k < n_items) {
        int n = 0, n_keep = 0;
        while (k < n_items && n < c->n_batch) {
            const struct flm_seq_batch *it = &items[k];
            c->pass_tokens[n] = it->tokens[i];
            c->row_seq[n] = it->seq;
            c->row_pos[n] = c->seq_pos[it->seq]++;
            c->row_single[n] = it->n_tokens == 1 || c->row_order;
            if (it->all_logits || i == it->n_tokens - 1) {
                if (c->n_logits[it->seq]++ == 0) c->logit_first[it->seq] = n_out + n_keep;
                c->keep[n_keep++] = n;
            }
            n++;
            if (++i == it->n_tokens) k++, i = 0;
        }
        struct flm_err local;
        if ((st = flm_forward(c, c->pass_tokens, n, n_keep, c->logits + (size_t)n_out * n_vocab, err ? err : &local))) {
            // streamed weights could not be read: this pass's tokens are not in the cache
            for (int j = 0; j < n; j++) c->seq_pos[c->row_seq[j]]--;
            for (int32_t s = 0; s < c->n_seq; s++) c->n_logits[s] = 0;
            return st;
        }
        n_out += n_keep;
    }
    return FLM_OK;
}

flm_status flm_eval(struct flm_context *c, const int32_t *tokens, int32_t n, bool all_logits, struct flm_err *err) {
    if (!c || (!tokens && n > 0) || n <= 0) return flm_err_set(err, FLM_ERR_INVALID, "eval: no tokens given");
    const struct flm_seq_batch item = {.seq = 0, .tokens = tokens, .n_tokens = n, .all_logits = all_logits};
    return flm_eval_seqs(c, &item, 1, err);
}

flm_status flm_eval_seqs_opts(struct flm_context *c, const struct flm_seq_batch *items, int32_t n_items,
                              const struct flm_eval_opts *opts, struct flm_err *err) {
    if (!c) return flm_err_set(err, FLM_ERR_INVALID, "eval: no context");
    c->row_order = opts && opts->row_order;
    c->layers = opts ? opts->layers : NULL;
    flm_status st = flm_eval_seqs(c, items, n_items, err);
    c->row_order = false;
    c->layers = NULL;
    return st;
}

flm_status flm_eval_opts(struct flm_context *c, const int32_t *tokens, int32_t n, bool all_logits,
                         const struct flm_eval_opts *opts, struct flm_err *err) {
    if (!c || (!tokens && n > 0) || n <= 0) return flm_err_set(err, FLM_ERR_INVALID, "eval: no tokens given");
    const struct flm_seq_batch item = {.seq = 0, .tokens = tokens, .n_tokens = n, .all_logits = all_logits};
    return flm_eval_seqs_opts(c, &item, 1, opts, err);
}

const float *flm_get_logits_seq(const struct flm_context *c, int32_t seq, int32_t i) {
    if (!c || seq < 0 || seq >= c->n_seq || c->n_logits[seq] == 0) return NULL;
    if (i < 0) i = c->n_logits[seq] - 1;
    if (i >= c->n_logits[seq]) return NULL;
    return c->logits + (size_t)(c->logit_first[seq] + i) * (size_t)c->model->hp.n_vocab;
}

const float *flm_get_logits(const struct flm_context *c, int32_t i) { return flm_get_logits_seq(c, 0, i); }
