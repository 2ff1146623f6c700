// seqs_stub.c - TEMPORARY: n_seq contexts evaluated one after another.
#include "serve/seqs_stub.h"
#include <stdlib.h>
struct stub { int32_t n; struct flm_context *c[]; };
flm_status flm_stub_context_init(struct flm_context **out, const struct flm_model *model,
                                 const struct flm_context_params *cp, int32_t n_seq, struct flm_err *err) {
    struct stub *s = calloc(1, sizeof *s + (size_t)n_seq * sizeof(struct flm_context *));
    s->n = n_seq;
    for (int32_t i = 0; i < n_seq; i++) {
        flm_status st = flm_context_init(&s->c[i], model, cp, err);
        if (st) { flm_stub_context_free((struct flm_context *)s); return st; }
    }
    *out = (struct flm_context *)s;
    return FLM_OK;
}
void flm_stub_context_free(struct flm_context *ctx) {
    struct stub *s = (struct stub *)ctx;
    if (!s) return;
    for (int32_t i = 0; i < s->n; i++) flm_context_free(s->c[i]);
    free(s);
}
int32_t flm_stub_n_ctx(const struct flm_context *ctx) { return flm_context_n_ctx(((const struct stub *)ctx)->c[0]); }
int32_t flm_stub_n_batch(const struct flm_context *ctx) { return flm_context_n_batch(((const struct stub *)ctx)->c[0]); }
flm_status flm_eval_seqs(struct flm_context *ctx, const struct flm_seq_batch *items, int32_t n, struct flm_err *err) {
    struct stub *s = (struct stub *)ctx;
    for (int32_t i = 0; i < n; i++) {
        flm_status st = flm_eval(s->c[items[i].seq], items[i].tokens, items[i].n_tokens, items[i].all_logits, err);
        if (st) return st;
    }
    return FLM_OK;
}
const float *flm_get_logits_seq(const struct flm_context *ctx, int32_t seq, int32_t i) {
    return flm_get_logits(((const struct stub *)ctx)->c[seq], i);
}
int32_t flm_seq_pos(const struct flm_context *ctx, int32_t seq) { return flm_context_pos(((const struct stub *)ctx)->c[seq]); }
flm_status flm_seq_truncate(struct flm_context *ctx, int32_t seq, int32_t pos, struct flm_err *err) {
    return flm_context_truncate(((struct stub *)ctx)->c[seq], pos, err);
}
