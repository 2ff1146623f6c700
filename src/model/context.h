// context.h - per-conversation state: KV cache, scratch, logits, threads.
//
// One context is used by one thread at a time; all of its memory is sized at
// init so evaluation never allocates. It holds n_seq independent sequences
// (one conversation each, usually one), each with its own n_ctx positions of
// KV cache; a forward pass may mix rows of several sequences, so the weights
// are read once for all of them (continuous batching in the server).
#ifndef FLM_MODEL_CONTEXT_H
#define FLM_MODEL_CONTEXT_H

#include "core/threads.h"
#include "model/model.h"

#define FLM_MAX_SEQ 256  // sequences one context may hold

struct flm_context {
    const struct flm_model *model;
    struct flm_pool        *pool;
    int32_t                 n_ctx;
    int32_t                 n_batch;
    int32_t                 n_seq;
    int32_t                 n_logits_max; // rows the logits buffer holds
    int32_t                *seq_pos;    // [n_seq] tokens in each sequence's cache
    uint16_t               *k_cache;    // [n_seq][n_layer][n_ctx][n_head_kv * head_dim] f16
    uint16_t               *v_cache;    // [n_seq][n_layer][n_ctx][n_head_kv * head_dim_v] f16
    // rows of the current forward pass (filled by flm_eval_seqs)
    int32_t                *row_seq;    // [n_batch] sequence of each row
    int32_t                *row_pos;    // [n_batch] its position in that sequence
    uint8_t                *row_single; // [n_batch] its sequence advances by one token (kernel order)
    int32_t                *keep;       // [n_batch] rows whose logits are wanted, ascending
    int32_t                *pass_tokens;// [n_batch] token of each row
    // scratch for n_batch tokens
    float                  *x;          // [n_batch][n_embd] residual stream
    float                  *xb;         // [n_batch][n_embd]
    float                  *xb2;        // [n_batch][n_embd]
    float                  *q;          // [n_batch][n_head * head_dim]
    float                  *k;          // [n_batch][n_head_kv * head_dim]
    float                  *v;          // [n_batch][n_head_kv * head_dim_v]
    float                  *att;        // [n_batch][n_head * head_dim_v]
    float                  *hb;         // [n_batch][n_ff]
    float                  *hb2;        // [n_batch][n_ff]
    float                  *scores;     // [n_threads][n_ctx]
    uint16_t               *qh;         // [n_threads][head_dim]
    void                   *qscratch;   // quantized activations for matmul
    float                  *logits;     // [n_logits_max][n_vocab] rows kept by the last eval, in item order
    int32_t                *logit_first;// [n_seq] first logits row of each sequence in the last eval
    int32_t                *n_logits;   // [n_seq] its rows (0: none kept)
    bool                    row_order;  // this eval computes every row in one-token order (flm_eval_opts)
    const uint8_t          *layers;     // [n_layer] this eval runs only layers with layers[il] != 0; NULL = all
    // activation sparsity (sparse/sparse.h); sparse_level -1: dense FFN
    int32_t                 sparse_level;
    struct flm_neuron_mask  mask;       // live neurons of the token and layer being computed
    uint8_t                *block_live; // [n_ff] down column blocks holding a live neuron
    int32_t                *slots;      // [n_ff] neuron-cache slot of each live neuron (store neuron mode)
    float                  *ones;       // [n_ff] 1.0f: act(gate) through the gated kernels
    struct flm_neuron_window *windows;  // [n_layer] with sparse_window, else NULL
    int64_t                *window_last;// [n_layer][n_ff] the windows' last uses
    int32_t                *fresh;      // [n_ff] neurons not in the window
    struct flm_sparse_stats sparse_stats;
    size_t                  memory;     // bytes allocated for all of the above (charged to the model's budget)
    // Debugging hook: called with each named intermediate of a forward pass
    // (llama.cpp's names: "attn_norm", "Qcur", ..., "l_out"; il = -1 outside
    // layers). NULL in normal use; tools/tests compare passes with it.
    void (*trace)(void *user, const char *name, int il, const float *data, size_t n);
    void  *trace_user;
};

// Options of one evaluation for speculative decoding (src/decode/spec.c).
// The defaults (all zero) are flm_eval's.
struct flm_eval_opts {
    // Every row in the float order of a one-token pass (attention lanes and
    // matmul kernels): a batched pass whose logits equal, bit for bit, those
    // of evaluating its tokens one at a time. Verification uses it.
    bool           row_order;
    // [n_layer]: run only the layers with a non-zero entry, then the final
    // norm and LM head (self-speculation drafts with the first layers or a
    // subset). KV entries of skipped layers are left as they are. NULL = all.
    const uint8_t *layers;
};

// flm_eval with options; opts NULL is flm_eval.
flm_status flm_eval_opts(struct flm_context *ctx, const int32_t *tokens, int32_t n, bool all_logits,
                         const struct flm_eval_opts *opts, struct flm_err *err);
// flm_eval_seqs with options (the server verifies its slots' drafts with row_order).
flm_status flm_eval_seqs_opts(struct flm_context *ctx, const struct flm_seq_batch *items, int32_t n_items,
                              const struct flm_eval_opts *opts, struct flm_err *err);

// Runs n <= n_batch rows: token i goes to sequence row_seq[i] at position
// row_pos[i] (a sequence's rows in increasing positions). Writes the logits
// of the n_keep rows listed in keep (ascending) to logits, one row each. No
// checks of the arguments (flm_eval_seqs checks); fails only when streamed
// weights cannot be read (err, not NULL, says why).
flm_status flm_forward(struct flm_context *ctx, const int32_t *tokens, int n, int n_keep, float *logits,
                       struct flm_err *err);

// The FFN of n rows with activation sparsity: c->xb (normed input) -> c->xb2.
// Fails only when the store's neuron cache cannot read (err says why).
flm_status flm_ffn_sparse(struct flm_context *c, const struct flm_layer *l, int il, int n, struct flm_err *err);

#endif
