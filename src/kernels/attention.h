// attention.h - one query head against a half-precision KV cache.
//
// out = softmax(scale * q . k_j, j in [j0, j1]) . v_j. The query is rounded to
// half precision and dotted with the cached keys in float, as llama.cpp does
// with an F16 cache; softmax and the weighted sum of values run in float.
// The order of every float operation is llama.cpp's, including the one
// difference between its batched and its one-token passes (see attention.c).
#ifndef FLM_KERNELS_ATTENTION_H
#define FLM_KERNELS_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_attn_args {
    const float    *q;         // [head_dim]
    const uint16_t *k;         // key of position 0 for this kv head; row j at k + j * k_stride
    const uint16_t *v;         // same for values
    size_t          k_stride;  // elements between positions
    size_t          v_stride;
    int             head_dim;
    int             head_dim_v;
    int             j0, j1;    // inclusive range of positions attended
    float           scale;
    bool            single;    // the pass evaluates one token (decides the q.k sum order)
};

// scores: scratch of j1 + 1 floats; qh: scratch of head_dim halves. Runs
// the variant kernels/dispatch.c chose; every variant gives the same bits.
void flm_attention_head(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);

typedef void (*flm_attention_fn)(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);
void flm_attention_head_ref(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);
#if defined(__x86_64__)
void flm_attention_head_avx512(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);
#endif
#if defined(__aarch64__)
void flm_attention_head_neon(const struct flm_attn_args *a, float *scores, uint16_t *qh, float *out);
#endif

#endif
