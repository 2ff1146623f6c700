// model.h - the read-only model: hyperparameters, weight views, vocabulary.
//
// A model is opened once and shared by any number of contexts. Every
// architecture is described by a small struct flm_arch (one file each under
// src/model/arch_*.c) that reads its hyperparameters and says which optional
// tensors it has; one shared decoder block (forward.c) runs them all.
#ifndef FLM_MODEL_MODEL_H
#define FLM_MODEL_MODEL_H

#include "flashlm.h"

#include "core/status.h"
#include "format/gguf.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "store/store.h"
#include "sparse/sparse.h"

#include <stdbool.h>
#include <stdint.h>

enum flm_act { FLM_ACT_SILU = 0, FLM_ACT_GELU = 1 };

struct flm_hparams {
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;      // per-head size of q and k
    int32_t head_dim_v;    // per-head size of v
    int32_t n_ff;
    int32_t n_rot;         // rotated dimensions per head
    float   rms_eps;
    float   rope_base;     // global-attention layers
    float   rope_scale;    // position multiplier (1 / linear scaling factor)
    float   rope_base_swa; // sliding-window layers
    float   rope_scale_swa;
    int32_t n_swa;         // sliding window in tokens, 0 = none
    int32_t swa_pattern;   // layer il slides when swa_pattern > 0 && (il + 1) % swa_pattern != 0
    float   q_scale;       // multiplies q before attention (0 = use 1/sqrt(head_dim) on scores)
    float   embd_scale;    // multiplies token embeddings (1 = none)
    enum flm_rope_kind rope_kind;
    enum flm_act       act;
};

// Where a weight of a layer came from: the store's tensor id and the field
// of struct flm_layer that views it (a struct flm_mat or a const float *).
struct flm_wref {
    uint16_t field;  // offsetof in struct flm_layer
    bool     mat;
    int32_t  id;
};
#define FLM_LAYER_MAX_W 16

struct flm_layer {
    const float   *attn_norm;       // [n_embd]
    struct flm_mat wq;              // [n_embd] -> [n_head * head_dim]
    struct flm_mat wk;              // [n_embd] -> [n_head_kv * head_dim]
    struct flm_mat wv;              // [n_embd] -> [n_head_kv * head_dim_v]
    struct flm_mat wo;              // [n_head * head_dim_v] -> [n_embd]
    const float   *bq, *bk, *bv;    // optional biases
    const float   *q_norm, *k_norm; // optional per-head norms [head_dim]
    const float   *post_attn_norm;  // optional [n_embd]
    const float   *ffn_norm;        // [n_embd]
    struct flm_mat w_gate;          // [n_embd] -> [n_ff]
    struct flm_mat w_up;            // [n_embd] -> [n_ff]
    struct flm_mat w_down;          // [n_ff] -> [n_embd]
    const float   *post_ffn_norm;   // optional [n_embd]
    struct flm_wref w[FLM_LAYER_MAX_W];  // the store ids of the fields above
    int             n_w;
    const float   *sparse_thr;      // optional [n_levels][n_ff] activation thresholds (sparse/sparse.h)
    struct flm_mat bundle_up;       // optional: up rows inside the row-column bundles ([n_embd] -> [n_ff],
                                    // row stride one bundle); data NULL when the file has none
    struct flm_mat bundle_down;     // optional: down columns as rows inside the bundles ([n_ff] rows of n_embd)
    int32_t        sid_bundle;      // store id of the bundles (when bundle_up.row_bytes != 0); under a budget
                                    // their data stays NULL unless pinned: the store's neuron cache serves them
};

// Optional tensors an architecture has (all others are required).
enum {
    FLM_T_QKV_BIAS      = 1 << 0,
    FLM_T_QK_NORM       = 1 << 1,
    FLM_T_POST_NORMS    = 1 << 2,
    FLM_T_OUTPUT_OPT    = 1 << 3,  // output.weight may be absent (tied to token_embd)
};

struct flm_arch {
    const char *name;
    unsigned    tensors;  // FLM_T_* flags: which optional tensors exist
    // Reads "<arch>.*" keys into hp (n_vocab is filled by the loader).
    flm_status (*load_hparams)(struct flm_hparams *hp, const struct flm_gguf *g, struct flm_err *err);
};

// Reads the keys every decoder-only architecture has ("<arch>.block_count",
// ".embedding_length", ...) with the usual defaults; arch files call it first.
flm_status flm_hparams_load_common(struct flm_hparams *hp, const char *arch, const struct flm_gguf *g,
                                   struct flm_err *err);

struct flm_vocab;

struct flm_model {
    struct flm_gguf         *gguf;
    const struct flm_arch   *arch;
    char                     name[128];
    struct flm_hparams       hp;
    struct flm_mat           tok_embd;     // [n_embd] x n_vocab rows
    const float             *output_norm;  // [n_embd]
    struct flm_mat           output;       // LM head (may alias tok_embd)
    struct flm_layer        *layers;       // [n_layer]
    struct flm_vocab        *vocab;
    char                    *chat_template; // NUL-terminated copy or NULL
    int64_t                  n_params;
    uint64_t                 weight_bytes;
    uint64_t                 token_bytes;  // weights read per generated token
    uint16_t                *gelu_table;   // [65536] GELU of every half value, for GELU models
    // where the weights live (see store/store.h) and the memory accountant
    struct flm_store        *store;
    int32_t                  sid_embd, sid_output, sid_output_norm;
    bool                     output_tied;  // the LM head is the embedding table
    struct flm_model_mem    *mem;
    struct flm_sparse_levels sparse;       // levels of the layers' sparse_thr (n_levels 0: none)
};

// Weights and memory (weights.c). The store group of layer il is il; the LM
// head's is n_layer.

// The layer's weights as views: m->layers[il] itself when nothing of it
// streams, else tmp with the streamed fields pointing into the store's pool
// (valid while group il is acquired).
const struct flm_layer *flm_model_layer(const struct flm_model *m, int il, struct flm_layer *tmp);
// Charges a context's bytes to the budget; the first charge commits the
// store (residency, pinned reads, pool). FLM_ERR_NOMEM with the minimum
// when it does not fit. sparse_level (-1: dense) and sparse_window are the
// context's: a sparse first context on a budgeted model whose file has
// bundles puts the store in neuron mode (store.h), after which contexts of
// any other level (or dense) are refused with FLM_ERR_INVALID.
flm_status flm_model_reserve(const struct flm_model *m, uint64_t bytes, int32_t sparse_level, int32_t sparse_window,
                             struct flm_err *err);
void       flm_model_unreserve(const struct flm_model *m, uint64_t bytes);
// What the first context of ctx_bytes would make the store commit to, as a
// dry run (store/store.h flm_store_plan); *b gets the accountant's items as
// they would then stand (pinned weights and stream buffers included).
flm_status flm_model_plan_store(const struct flm_model *m, uint64_t ctx_bytes, struct flm_store_plan *out,
                                struct flm_budget *b, struct flm_err *err);
// Memory the model itself needs (runtime, metadata, vocabulary, tables).
flm_status flm_model_mem_init(struct flm_model *m, uint64_t budget, struct flm_err *err);
void       flm_model_mem_free(struct flm_model *m);

// Replaces the activation thresholds: levels lv and per layer thr[il]
// (lv->n_levels rows of n_ff floats; NULL: the layer's FFN stays dense under
// a sparsity level), memory the caller owns and keeps while contexts use the
// model. For calibration, which tries thresholds before writing them.
void flm_model_sparse_set(struct flm_model *m, const struct flm_sparse_levels *lv, const float *const *thr);

const struct flm_arch *flm_arch_find(const char *name, size_t len);

int32_t flm_model_n_vocab(const struct flm_model *model);

#endif
