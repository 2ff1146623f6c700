// context.h - per-conversation state: KV cache, scratch, logits, threads.
//
// One context belongs to one conversation and is used by one thread at a
// time; all of its memory is sized at init so evaluation never allocates.
#ifndef FLM_MODEL_CONTEXT_H
#define FLM_MODEL_CONTEXT_H

#include "core/threads.h"
#include "model/model.h"

struct flm_context {
    const struct flm_model *model;
    struct flm_pool        *pool;
    int32_t                 n_ctx;
    int32_t                 n_batch;
    int32_t                 n_logits_max; // rows the logits buffer holds
    int32_t                 pos;        // tokens in the cache
    uint16_t               *k_cache;    // [n_layer][n_ctx][n_head_kv * head_dim] f16
    uint16_t               *v_cache;    // [n_layer][n_ctx][n_head_kv * head_dim_v] f16
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
    float                  *logits;     // [n_logits_max][n_vocab]
    int32_t                 n_logits;   // rows valid in logits after the last eval
    bool                    all_logits;
    bool                    one_token;  // the current flm_eval has a single token (kernel choice)
    size_t                  memory;     // bytes allocated for all of the above (charged to the model's budget)
    // Debugging hook: called with each named intermediate of a forward pass
    // (llama.cpp's names: "attn_norm", "Qcur", ..., "l_out"; il = -1 outside
    // layers). NULL in normal use; tools/tests compare passes with it.
    void (*trace)(void *user, const char *name, int il, const float *data, size_t n);
    void  *trace_user;
};

// Runs n <= n_batch tokens at positions pos..pos+n-1 and writes the logits
// of the last token (or of all when all_logits). No checks of the
// arguments (flm_eval checks); fails only when streamed weights cannot be
// read (err, not NULL, says why).
flm_status flm_forward(struct flm_context *ctx, const int32_t *tokens, int n, bool all_logits, struct flm_err *err);

#endif
