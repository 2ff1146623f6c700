// seqs_stub.h - TEMPORARY stand-in for the library's multi-sequence API
// until it lands on main (then this file and seqs_stub.c are deleted).
#ifndef FLM_SERVE_SEQS_STUB_H
#define FLM_SERVE_SEQS_STUB_H
#include "flashlm.h"
// Private names, so a merge with the real API links without clashes.
#define flm_seq_batch      flm_stub_seq_batch
#define flm_eval_seqs      flm_stub_eval_seqs
#define flm_get_logits_seq flm_stub_get_logits_seq
#define flm_seq_pos        flm_stub_seq_pos
#define flm_seq_truncate   flm_stub_seq_truncate
struct flm_seq_batch {
    int32_t        seq;
    const int32_t *tokens;
    int32_t        n_tokens;
    bool           all_logits;
};
flm_status   flm_stub_context_init(struct flm_context **out, const struct flm_model *model,
                                   const struct flm_context_params *cp, int32_t n_seq, struct flm_err *err);
void         flm_stub_context_free(struct flm_context *ctx);
int32_t      flm_stub_n_ctx(const struct flm_context *ctx);
int32_t      flm_stub_n_batch(const struct flm_context *ctx);
flm_status   flm_eval_seqs(struct flm_context *ctx, const struct flm_seq_batch *items, int32_t n_items, struct flm_err *err);
const float *flm_get_logits_seq(const struct flm_context *ctx, int32_t seq, int32_t i);
int32_t      flm_seq_pos(const struct flm_context *ctx, int32_t seq);
flm_status   flm_seq_truncate(struct flm_context *ctx, int32_t seq, int32_t pos, struct flm_err *err);
#endif
