// ops.h - element-wise and row operations of the forward pass (scalar refs).
//
// Each op follows the arithmetic llama.cpp's CPU backend uses (sums of
// squares in double, RoPE angles advanced by repeated multiplication, GELU
// through half precision), so that logits agree with it closely.
#ifndef FLM_KERNELS_OPS_H
#define FLM_KERNELS_OPS_H

#include <stdint.h>

// y = x / rms(x) * w   (w may be NULL: no weight). y may alias x.
void flm_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);

enum flm_rope_kind {
    FLM_ROPE_NORM = 0,  // rotates pairs (x[2i], x[2i+1])        (llama)
    FLM_ROPE_NEOX = 2,  // rotates pairs (x[i], x[i + n_rot/2])  (gemma, qwen, ...)
};

// Rotates each of n_heads vectors of head_dim floats in place by position pos.
// n_rot <= head_dim dimensions rotate; freq_scale scales positions (linear scaling).
void flm_rope(float *x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
              enum flm_rope_kind kind);

// y = gelu(x) * g (tanh approximation, through half precision like ggml).
void flm_geglu(float *y, const float *x, const float *g, int64_t n);

// The same with a table of gelu for every half-precision input (65536
// entries, filled by flm_gelu_table_fill): one lookup per element instead of
// a tanh, the same bits (llama.cpp evaluates GELU from such a table too).
void flm_gelu_table_fill(uint16_t *table);
void flm_geglu_table(float *y, const float *x, const float *g, int64_t n, const uint16_t *table);
// y = silu(x) * g for one row of n, with exp as llama.cpp computes it.
// Runs the fastest variant; all give the bits of flm_swiglu_ref.
void flm_swiglu(float *y, const float *x, const float *g, int64_t n);
void flm_swiglu_ref(float *y, const float *x, const float *g, int64_t n);
#if defined(__x86_64__)
void flm_swiglu_avx512(float *y, const float *x, const float *g, int64_t n);
#endif

// In place: x = softmax(x); returns nothing. n >= 1.
void flm_softmax(float *x, int64_t n);

// exp(x) by the polynomial llama.cpp's AVX-512 build evaluates in its softmax
// and SiLU (max error about 1.5 ulp; under -103.97 gives 0, over 88.38 inf).
// Computing it element by element with the same fused multiply-adds gives
// the same bits, which keeps logits equal to llama.cpp's.
float flm_expf_poly(float x);

// Sum of 16 lanes in the order of an AVX-512 horizontal add: halves of 8,
// then of 4, then pairs.
float flm_hsum16(const float *lane);

void flm_add(float *y, const float *x, int64_t n);           // y += x
void flm_scale(float *y, float s, int64_t n);                // y *= s

#endif
