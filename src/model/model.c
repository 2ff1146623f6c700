// model.c - opening a model: GGUF -> architecture, hyperparameters, weight
// views (validated against the shapes the architecture needs), vocabulary.
#include "model/model.h"

#include "quant/quant.h"
#include "text/vocab.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flm_model_params flm_model_params_default(void) {
    return (struct flm_model_params){.use_mmap = true, .mem_budget = 0, .io = FLM_IO_AUTO};
}

// ---------------------------------------------------------------- tensor binding

struct binder {
    struct flm_model    *m;
    struct flm_err      *err;
    struct flm_layer    *layer;  // the layer being bound, or NULL
    int                  group;  // its store group
    enum flm_store_class cls;    // of the next matrix
    int32_t              id;     // store id of the last tensor bound
};

// Registers a bound tensor with the store (and with its layer's list).
static flm_status track(struct binder *b, const struct flm_gguf_tensor *t, const void *field, bool mat,
                        enum flm_store_class cls, int64_t n_rows, size_t row_bytes, int rows_align) {
    b->id = flm_store_add(b->m->store, t, b->group, cls, n_rows, row_bytes, rows_align);
    if (b->id < 0) return flm_err_set(b->err, FLM_ERR_NOMEM, "model: out of memory");
    struct flm_layer *l = b->layer;
    if (!l) return FLM_OK;
    FLM_ASSERT(l->n_w < FLM_LAYER_MAX_W);
    l->w[l->n_w++] = (struct flm_wref){(uint16_t)((const char *)field - (const char *)l), mat, b->id};
    return FLM_OK;
}

static const struct flm_gguf_tensor *find(struct binder *b, const char *name, bool required, flm_status *st) {
    const struct flm_gguf_tensor *t = flm_gguf_find_tensor(b->m->gguf, name);
    if (!t && required) *st = flm_err_set(b->err, FLM_ERR_FORMAT, "model: required tensor '%s' is missing", name);
    return t;
}

// A matrix of n_rows rows of n_cols: GGUF ne = {n_cols, n_rows}.
static flm_status bind_mat(struct binder *b, struct flm_mat *out, const char *name, int64_t n_cols, int64_t n_rows,
                           bool required) {
    flm_status st = FLM_OK;
    const struct flm_gguf_tensor *t = find(b, name, required, &st);
    if (!t) return st;
    if (t->n_dims != 2 || t->ne[0] != n_cols || t->ne[1] != n_rows)
        return flm_err_set(b->err, FLM_ERR_FORMAT,
                           "model: tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld]", name,
                           (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n_cols,
                           (long long)n_rows);
    const struct flm_type_traits *tr = flm_quant_traits(t->type);
    if (!tr || !tr->vec_dot) {
        const struct flm_type_layout *l = flm_type_layout(t->type);
        return flm_err_set(b->err, FLM_ERR_UNSUPPORTED, "model: tensor '%s' has type %s, which flashlm cannot multiply",
                           name, l ? l->name : "unknown");
    }
    *out = (struct flm_mat){.type = t->type, .n_cols = n_cols, .n_rows = n_rows,
                            .row_bytes = flm_type_row_size(t->type, n_cols), .data = t->data};
    // llama.cpp repacks Q4_K matrices of whole 8-row groups, which fixes the
    // order of its float steps; take the same order to keep the same logits.
    if (t->type == FLM_TYPE_Q4_K && n_rows % 8 == 0) out->order = FLM_ORDER_Q4_K_TILED;
#if defined(__x86_64__)
    // Q4_0 likewise (q4_0_8x8, kernels/q4_0_tiled.h); its ARM build repacks
    // into other layouts whose order is not reproduced, so there the plain
    // order stays (and its NEON kernels).
    if (t->type == FLM_TYPE_Q4_0 && n_rows % 8 == 0) out->order = FLM_ORDER_Q4_0_TILED;
#endif
    // a matrix cut into row ranges (a streamed LM head) keeps whole tiles
    const int align = out->order == FLM_ORDER_Q4_K_TILED ? 8 : out->order == FLM_ORDER_Q4_0_TILED ? 16 : 1;
    return track(b, t, out, true, b->cls, n_rows, out->row_bytes, align);
}

static flm_status bind_vec(struct binder *b, const float **out, const char *name, int64_t n, bool required) {
    flm_status st = FLM_OK;
    *out = NULL;
    const struct flm_gguf_tensor *t = find(b, name, required, &st);
    if (!t) return st;
    if (t->n_dims != 1 || t->ne[0] != n)
        return flm_err_set(b->err, FLM_ERR_FORMAT, "model: tensor '%s' has %lld elements in %u dims, expected [%lld]",
                           name, (long long)t->ne[0], t->n_dims, (long long)n);
    if (t->type != FLM_TYPE_F32)
        return flm_err_set(b->err, FLM_ERR_UNSUPPORTED, "model: tensor '%s' must be f32", name);
    *out = t->data;
    return track(b, t, out, false, FLM_STORE_NORM, 1, t->nbytes, 1);
}

static flm_status bind_layer(struct binder *b, int il) {
    const struct flm_hparams *hp = &b->m->hp;
    const unsigned opt = b->m->arch->tensors;
    struct flm_layer *l = &b->m->layers[il];
    const int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim;
    const int64_t k = (int64_t)hp->n_head_kv * hp->head_dim, v = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
    char nm[96];
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", il, s), nm)
    flm_status st;
    b->layer = l;
    b->group = il;
    b->cls = FLM_STORE_ATTN;
    if ((st = bind_vec(b, &l->attn_norm, NAME("attn_norm.weight"), e, true)) ||
        (st = bind_mat(b, &l->wq, NAME("attn_q.weight"), e, q, true)) ||
        (st = bind_mat(b, &l->wk, NAME("attn_k.weight"), e, k, true)) ||
        (st = bind_mat(b, &l->wv, NAME("attn_v.weight"), e, v, true)) ||
        (st = bind_mat(b, &l->wo, NAME("attn_output.weight"), o, e, true)) ||
        (b->cls = FLM_STORE_FFN, st = bind_vec(b, &l->ffn_norm, NAME("ffn_norm.weight"), e, true)) ||
        (st = bind_mat(b, &l->w_gate, NAME("ffn_gate.weight"), e, hp->n_ff, true)) ||
        (st = bind_mat(b, &l->w_up, NAME("ffn_up.weight"), e, hp->n_ff, true)) ||
        (st = bind_mat(b, &l->w_down, NAME("ffn_down.weight"), hp->n_ff, e, true)))
        return st;
    if ((opt & FLM_T_QKV_BIAS) &&
        ((st = bind_vec(b, &l->bq, NAME("attn_q.bias"), q, false)) ||
         (st = bind_vec(b, &l->bk, NAME("attn_k.bias"), k, false)) ||
         (st = bind_vec(b, &l->bv, NAME("attn_v.bias"), v, false))))
        return st;
    if ((opt & FLM_T_QK_NORM) && ((st = bind_vec(b, &l->q_norm, NAME("attn_q_norm.weight"), hp->head_dim, true)) ||
                                  (st = bind_vec(b, &l->k_norm, NAME("attn_k_norm.weight"), hp->head_dim, true))))
        return st;
    if ((opt & FLM_T_POST_NORMS) &&
        ((st = bind_vec(b, &l->post_attn_norm, NAME("post_attention_norm.weight"), e, true)) ||
         (st = bind_vec(b, &l->post_ffn_norm, NAME("post_ffw_norm.weight"), e, true))))
        return st;
#undef NAME
    return FLM_OK;
}

// Row-column bundles (sparse/sparse.h), when flashlm convert --bundle added them.
static flm_status bind_bundles(struct flm_model *m, struct flm_err *err) {
    if (flm_gguf_find_key(m->gguf, FLM_SPARSE_KEY_BUNDLE_TYPE) < 0) return FLM_OK;
    uint32_t dt;
    flm_status st = flm_gguf_get_u32(m->gguf, FLM_SPARSE_KEY_BUNDLE_TYPE, &dt, err);
    if (st) return st;
    const struct flm_type_traits *tr = flm_quant_traits((enum flm_type)dt);
    const int64_t E = m->hp.n_embd, F = m->hp.n_ff;
    if (dt >= FLM_TYPE_COUNT || !tr || !tr->vec_dot || E % flm_type_layout(dt)->blck_size)
        return flm_err_set(err, FLM_ERR_FORMAT, "model: %s = %u is not a weight type for rows of %lld",
                           FLM_SPARSE_KEY_BUNDLE_TYPE, dt, (long long)E);
    for (int il = 0; il < m->hp.n_layer; il++) {
        struct flm_layer *l = &m->layers[il];
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.%s", il, FLM_SPARSE_BUNDLE_TENSOR);
        const struct flm_gguf_tensor *t = flm_gguf_find_tensor(m->gguf, nm);
        const size_t bb = flm_sparse_bundle_bytes(l->w_up.type, (enum flm_type)dt, E);
        if (!t || t->type != FLM_TYPE_I8 || t->n_dims != 2 || t->ne[0] != (int64_t)bb || t->ne[1] != F)
            return flm_err_set(err, FLM_ERR_FORMAT, "model: bundle tensor '%s' is missing or not i8 [%zu, %lld]", nm, bb,
                               (long long)F);
        // in the store: read in neuron mode only (a sparse context under a budget), which never reads up and down
        l->sid_bundle = flm_store_add_role(m->store, t, il, FLM_STORE_FFN, F, bb, FLM_STORE_ROLE_BUNDLE);
        if (l->sid_bundle < 0) return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory");
        for (int k = 0; k < l->n_w; k++)
            if (l->w[k].field == offsetof(struct flm_layer, w_up) ||
                l->w[k].field == offsetof(struct flm_layer, w_down))
                flm_store_set_role(m->store, l->w[k].id, FLM_STORE_ROLE_DENSE);
        // data NULL under a budget until the commit (model/weights.c)
        l->bundle_up =
            (struct flm_mat){.type = l->w_up.type, .n_cols = E, .n_rows = F, .row_bytes = bb, .data = t->data};
        l->bundle_down = (struct flm_mat){.type = (enum flm_type)dt, .n_cols = E, .n_rows = F, .row_bytes = bb,
                                          .data = t->data ? (const char *)t->data + l->w_up.row_bytes : NULL};
    }
    return FLM_OK;
}

static flm_status bind_tensors(struct flm_model *m, struct flm_err *err) {
    struct binder b = {.m = m, .err = err, .group = -1, .cls = FLM_STORE_EMBD};
    const struct flm_hparams *hp = &m->hp;
    flm_status st;
    if ((st = bind_mat(&b, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true))) return st;
    m->sid_embd = b.id;
    if ((st = bind_vec(&b, &m->output_norm, "output_norm.weight", hp->n_embd, true))) return st;
    m->sid_output_norm = b.id;
    m->tok_embd.order = FLM_ORDER_ROW;  // looked up by row, never repacked
    m->output = m->tok_embd;
    m->output_tied = !flm_gguf_find_tensor(m->gguf, "output.weight");
    b.group = hp->n_layer;
    b.cls = FLM_STORE_HEAD;
    if (m->output_tied) {  // the same tensor, now also the LM head
        const struct flm_gguf_tensor *t = flm_gguf_find_tensor(m->gguf, "token_embd.weight");
        if ((st = track(&b, t, NULL, true, FLM_STORE_HEAD, hp->n_vocab, m->output.row_bytes, 1))) return st;
    } else if ((st = bind_mat(&b, &m->output, "output.weight", hp->n_embd, hp->n_vocab,
                              !(m->arch->tensors & FLM_T_OUTPUT_OPT))))
        return st;
    m->sid_output = b.id;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory for %d layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = bind_layer(&b, il))) return st;
    // activation thresholds, when flashlm calibrate added them
    if ((st = flm_sparse_levels_load(&m->sparse, m->gguf, err))) return st;
    for (int il = 0; il < hp->n_layer && m->sparse.n_levels; il++)
        if ((st = flm_sparse_layer_load(m->gguf, il, hp->n_ff, m->sparse.n_levels, &m->layers[il].sparse_thr, err)))
            return st;
    return bind_bundles(m, err);
}

void flm_model_sparse_set(struct flm_model *m, const struct flm_sparse_levels *lv, const float *const *thr) {
    m->sparse = *lv;
    for (int il = 0; il < m->hp.n_layer; il++) m->layers[il].sparse_thr = thr ? thr[il] : NULL;
}

// ---------------------------------------------------------------- open / free

static flm_status load_meta(struct flm_model *m, struct flm_err *err) {
    struct flm_gguf_str s;
    flm_status st = flm_gguf_get_str(m->gguf, "general.architecture", &s, err);
    if (st) return st;
    m->arch = flm_arch_find(s.ptr, (size_t)s.len);
    if (!m->arch)
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "model: architecture '%.*s' is not supported (known: llama, gemma3, qwen2, qwen3)",
                           (int)(s.len > 64 ? 64 : s.len), s.ptr);
    if ((st = m->arch->load_hparams(&m->hp, m->gguf, err))) return st;
    if (flm_gguf_find_key(m->gguf, "general.name") >= 0 && flm_gguf_get_str(m->gguf, "general.name", &s, NULL) == FLM_OK)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(s.len > 127 ? 127 : s.len), s.ptr);
    if (flm_gguf_find_key(m->gguf, "tokenizer.chat_template") >= 0 &&
        flm_gguf_get_str(m->gguf, "tokenizer.chat_template", &s, NULL) == FLM_OK) {
        m->chat_template = malloc((size_t)s.len + 1);
        if (!m->chat_template) return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory");
        memcpy(m->chat_template, s.ptr, (size_t)s.len);
        m->chat_template[s.len] = '\0';
    }
    return FLM_OK;
}

static void count_weights(struct flm_model *m) {
    for (int64_t i = 0; i < flm_gguf_n_tensors(m->gguf); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(m->gguf, i);
        static const char bundle[] = "." FLM_SPARSE_BUNDLE_TENSOR;  // bytes of a copy, not parameters
        const bool is_bundle = t->name.len > sizeof bundle - 1 &&
                               !memcmp(t->name.ptr + t->name.len - (sizeof bundle - 1), bundle, sizeof bundle - 1);
        if (!is_bundle) m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        m->weight_bytes += t->nbytes;
    }
    // a token reads every tensor but the embedding table, of which it reads
    // one row, unless the table is also the LM head
    // (and not the row-column bundles, a second copy of up and down for sparse reads)
    const size_t embd = (size_t)m->tok_embd.n_rows * m->tok_embd.row_bytes;
    m->token_bytes = m->weight_bytes - (m->output_tied ? 0 : embd - m->tok_embd.row_bytes);
    for (int il = 0; il < m->hp.n_layer; il++)
        if (m->layers[il].bundle_up.row_bytes) m->token_bytes -= m->layers[il].bundle_up.row_bytes * (size_t)m->hp.n_ff;
}

flm_status flm_model_open(struct flm_model **out, const char *path, const struct flm_model_params *params,
                          struct flm_err *err) {
    if (!out || !path) return flm_err_set(err, FLM_ERR_INVALID, "model: NULL argument");
    *out = NULL;
    struct flm_model_params p = params ? *params : flm_model_params_default();
    struct flm_model *m = calloc(1, sizeof *m);
    if (!m) return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory");
    const unsigned flags = p.mem_budget ? FLM_GGUF_OPEN_HEADER : p.use_mmap ? 0 : FLM_GGUF_OPEN_NO_MMAP;
    flm_status st = flm_gguf_open(&m->gguf, path, flags, err);
    if (st == FLM_OK) {
        struct flm_store_params sp = {.budget = p.mem_budget, .io = p.io};
        st = flm_store_open(&m->store, m->gguf, &sp, err);
    }
    if (st == FLM_OK) st = load_meta(m, err);
    if (st == FLM_OK) st = flm_vocab_load(&m->vocab, m->gguf, err);
    if (st == FLM_OK) {
        m->hp.n_vocab = flm_vocab_n_tokens(m->vocab);
        st = bind_tensors(m, err);
    }
    if (st != FLM_OK) {
        if (err && !strstr(err->msg, path)) flm_err_prefix(err, "%s", path);
        flm_model_free(m);
        return st;
    }
    count_weights(m);
    if (m->hp.act == FLM_ACT_GELU) {
        m->gelu_table = malloc(65536 * sizeof *m->gelu_table);
        if (!m->gelu_table) {
            flm_model_free(m);
            return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory for the GELU table");
        }
        flm_gelu_table_fill(m->gelu_table);
    }
    if ((st = flm_model_mem_init(m, p.mem_budget, err))) {
        flm_model_free(m);
        return st;
    }
    *out = m;
    return FLM_OK;
}

void flm_model_free(struct flm_model *m) {
    if (!m) return;
    flm_store_close(m->store);
    flm_model_mem_free(m);
    flm_vocab_free(m->vocab);
    free(m->layers);
    free(m->gelu_table);
    free(m->chat_template);
    flm_gguf_close(m->gguf);
    free(m);
}

void flm_model_get_info(const struct flm_model *m, struct flm_model_info *o) {
    *o = (struct flm_model_info){
        .arch = m->arch->name, .name = m->name, .n_vocab = m->hp.n_vocab, .n_ctx_train = m->hp.n_ctx_train,
        .n_embd = m->hp.n_embd, .n_layer = m->hp.n_layer, .n_head = m->hp.n_head, .n_head_kv = m->hp.n_head_kv,
        .n_params = m->n_params, .weight_bytes = m->weight_bytes, .file_size = flm_gguf_file_size(m->gguf),
        .token_bytes = m->token_bytes,
    };
}

int32_t flm_model_n_vocab(const struct flm_model *m) { return m->hp.n_vocab; }
