// sampler.h - picks the next token from a row of logits.
//
// The chain is the one llama.cpp's default sampler runs, in this order:
//
//   penalties -> top_k -> top_p -> min_p -> temperature -> softmax -> draw
//
// * penalties look at the last repeat_last_n tokens the sampler was told
//   about (flm_sampler_accept for the prompt, plus every token it sampled).
//   For each distinct token t in that window with count c:
//     repeat:    logit /= repeat_penalty if logit > 0, else logit *= repeat_penalty
//     then:      logit -= c * frequency_penalty + (c > 0) * presence_penalty
//   (frequency/presence as OpenAI defines them, over the same window).
// * top_k keeps the k largest logits (<= 0 or >= n_vocab: off).
// * top_p and min_p look at the softmax of the logits at temperature 1, as
//   llama.cpp does (temperature is applied after them). top_p keeps the
//   smallest set of most likely tokens whose probability sum reaches top_p
//   (the token that crosses it is kept). min_p keeps the tokens whose
//   probability is at least min_p times the largest one, computed as
//   logit >= max_logit + log(min_p).
// * temperature divides the logits that are left; temperature <= 0 means
//   greedy: after the penalties the largest logit wins and top_k/top_p/min_p
//   are skipped (they would all keep it anyway).
// * the draw uses the sampler's own xoshiro256** generator, seeded through
//   splitmix64 from params.seed: the same seed and inputs give the same tokens.
//
// Ties are broken towards the lower token id everywhere (greedy, top_k, top_p
// boundaries), so results do not depend on sort stability. NaN logits are
// treated as -inf.
//
// Promises: flm_sampler_sample never allocates; every buffer is sized in init
// (one block: n_vocab candidates, n_vocab counts, repeat_last_n history).
// top_k is a heap selection, O(n_vocab log k); top_p without top_k heapifies
// once in O(n_vocab) and pops only the tokens it keeps; with neither, nothing
// is sorted. Defaults (flm_sampler_params_default): temperature 0.8, top_k 40,
// top_p 0.95, min_p 0.05, repeat_penalty 1.0 (off), repeat_last_n 64,
// frequency_penalty 0, presence_penalty 0, seed 0xF1A5.
#ifndef FLM_DECODE_SAMPLER_H
#define FLM_DECODE_SAMPLER_H

#include "core/status.h"

#include <stdint.h>

// Largest repeat_last_n accepted (bounds the history allocation).
#define FLM_SAMPLER_MAX_LAST_N (1 << 20)

// The work behind flm_sampler_init (flashlm.h), which only learns n_vocab from
// the model; flm_sampler_init itself is defined by the model module.
// params NULL means flm_sampler_params_default(). Bad parameters give
// FLM_ERR_INVALID naming the field; out is NULL on error.
flm_status flm_sampler_init_n_vocab(struct flm_sampler **out, const struct flm_sampler_params *params,
                                    int32_t n_vocab, struct flm_err *err);

int32_t flm_sampler_n_vocab(const struct flm_sampler *s);

// A candidate token: v is its logit inside the chain and its probability in
// what flm_sampler_dist hands out.
struct flm_token_prob {
    int32_t id;
    float   v;
};

// Runs the chain on logits (not modified) up to the softmax, without drawing
// and without remembering anything: fills *out with the surviving candidates
// and their probabilities (summing to 1) and returns their count (>= 1).
// Greedy gives the one winner with probability 1. The order is best first
// when top_k or top_p ran, else by id. *out is owned by s and valid until the
// next dist/sample call on it. flm_sampler_sample is dist + draw + accept;
// speculative decoding and the tests read the distribution itself.
int32_t flm_sampler_dist(struct flm_sampler *s, const float *logits, const struct flm_token_prob **out);

// The final distribution of the chain (after penalties, top_k, top_p, min_p
// and temperature) scattered into dense[n_vocab]: every id gets its
// probability, 0 where it was dropped. Speculative sampling compares target
// and draft probabilities of the same token with it.
void flm_sampler_dist_dense(struct flm_sampler *s, const float *logits, float *dense);

// A uniform draw in [0, 1) from the sampler's own generator (speculative
// sampling's accept/reject coins come from the same seeded stream).
double flm_sampler_unit(struct flm_sampler *s);

#endif
