// spec.h - speculative decoding inside the library: one decoding step that
// drafts, verifies in one batched pass of the target, accepts and rolls back,
// the drafters, and the acceptance rule (flashlm.h has the public side).
//
// A step starts from a pending token x: sampled and emitted, not yet
// evaluated (where plain decoding would now evaluate it). It drafts d1..dk,
// evaluates [x, d1..dk] with all logits in one-token row order (flm_eval_opts),
// accepts d1..dj and samples y from the logits after dj, truncates the KV
// cache to x, d1..dj, and returns d1..dj, y; y is the next pending token. With
// no draft (k = 0) it is exactly plain decoding's step: evaluate x, sample y.
#ifndef FLM_DECODE_SPEC_H
#define FLM_DECODE_SPEC_H

#include "flashlm.h"

#include <stdbool.h>
#include <stdint.h>

// Largest draft_max accepted.
#define FLM_SPEC_MAX_DRAFT 32

// Makes spec's token history agree with its context before generation: drops
// tokens the caller truncated away, refuses (FLM_ERR_INVALID) a context that
// holds tokens evaluated behind the drafter's back, then records the prompt.
flm_status flm_spec_begin(struct flm_spec *spec, const int32_t *prompt, int32_t n_prompt, struct flm_err *err);

// Records a pending token x sampled outside a step (the first one, from the
// prompt's logits) in the history.
void flm_spec_push(struct flm_spec *spec, int32_t x);

// One step from pending token x (the last token recorded): writes at most
// max_out (>= 1) tokens to out and returns how many (>= 1), or a negative
// status. Never evaluates past the context's end (the caller checks that x
// fits). The last token written is the new pending token; the sampler has
// accepted every token written. A drafted end-of-generation token ends the
// list early.
int32_t flm_spec_step(struct flm_spec *spec, struct flm_sampler *smp, int32_t max_out, int32_t *out,
                      struct flm_err *err);

// Cuts the history (and the context) back to keep tokens after the caller
// stopped inside a step's list.
void flm_spec_rewind(struct flm_spec *spec, int32_t keep);

// The context spec works on.
struct flm_context *flm_spec_context(const struct flm_spec *spec);

// ---------------------------------------------------------------- acceptance

// The speculative sampling rule for a drafted token x: p is the target's and
// q the drafter's final distribution (dense, n_vocab entries; q NULL means x
// was drafted with certainty, q = one-hot(x)). Accepts x with probability
// min(1, p(x)/q(x)) (no draw when p(x) >= q(x)); else returns a token drawn
// from norm(max(0, p - q)). Uniforms come from rng's generator. *accepted
// says which happened.
int32_t flm_spec_accept(const float *p, const float *q, int32_t n_vocab, int32_t x, struct flm_sampler *rng,
                        bool *accepted);

// ---------------------------------------------------------------- prompt lookup

// Finds the latest earlier occurrence of the last g tokens of hist[0..n)
// (g from ngram_max down to ngram_min) and copies up to k tokens that
// followed it into out. Returns the count (0 when nothing matches).
int32_t flm_spec_lookup(const int32_t *hist, int32_t n, int32_t ngram_min, int32_t ngram_max, int32_t k,
                        int32_t *out);

// Parses a layer selection ("N" = the first N layers, "a-b,c,..." = those
// layers) into mask[n_layer]; FLM_ERR_INVALID naming the fault.
flm_status flm_spec_parse_layers(const char *s, int32_t n_layer, uint8_t *mask, struct flm_err *err);

// FLM_OK when draft can draft for target: the same vocabulary size, every
// token's text and BOS/EOS; else FLM_ERR_INVALID saying how they differ.
flm_status flm_spec_check_vocab(const struct flm_model *target, const struct flm_model *draft, struct flm_err *err);

#endif
