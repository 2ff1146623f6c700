// quant.h - block quantization formats: dequantize, quantize, scalar dot.
//
// These are the ORACLE implementations (suffix _ref): plain loops, bit-exact
// to the GGUF/ggml block formats. A weight row of type T is multiplied with an
// activation row quantized to T's vec_dot_type, exactly the pairing llama.cpp
// uses on the CPU (Q4_0/Q5_0/Q8_0 x Q8_0, Q4_1/Q5_1 x Q8_1, K-quants x Q8_K,
// F16 x F16, BF16 x BF16, F32 x F32), so that logits agree with it.
// SIMD variants live in src/kernels and are tested against these.
#ifndef FLM_QUANT_QUANT_H
#define FLM_QUANT_QUANT_H

#include "core/types.h"

#include <stdbool.h>
#include <stdint.h>

typedef void (*flm_to_float_fn)(const void *x, float *y, int64_t k);        // k elements
typedef void (*flm_from_float_fn)(const float *x, void *y, int64_t k);      // k elements
// s = dot(x[0..n), y[0..n)); x is a weight row of the type, y a row of its vec_dot_type.
typedef void (*flm_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

struct flm_type_traits {
    enum flm_type     type;
    flm_to_float_fn   to_float;    // dequantize (every type in the table has one)
    flm_from_float_fn from_float;  // reference quantizer
    flm_vec_dot_fn    vec_dot;     // NULL for activation-only types (Q8_1, Q8_K)
    enum flm_type     vec_dot_type;
};

// NULL when the type has no implementation.
const struct flm_type_traits *flm_quant_traits(enum flm_type t);

// The quantizer llama.cpp's CPU backend applies to activations of type t (a
// vec_dot_type) on the architecture flashlm is compiled for: on x86-64 the
// _x86_ref variants for Q8_0 and Q8_1 (its AVX/AVX2 path), on AArch64 the
// _arm_ref ones (its NEON path), otherwise, and for every other type,
// flm_quant_traits(t)->from_float. Use it for
// activations; use from_float for weights. NULL when t is not implemented.
flm_from_float_fn flm_quant_act_from_float(enum flm_type t);

// Index of the first element of n elements of type t (n a multiple of the
// block size) that is not finite, or lies in a block whose f16/f32 scale or
// minimum is not finite; -1 when all are finite (always for integer types).
// The check ggml_validate_row_data makes: llama.cpp refuses such tensors.
int64_t flm_quant_find_nonfinite(enum flm_type t, const void *data, int64_t n);

// ---------------------------------------------------------------- per-format oracles
//
// For every format <f>:
//   flm_<f>_dequantize_ref(x, y, k)  k elements of blocks x -> floats y
//   flm_<f>_quantize_ref(x, y, k)    k floats x -> blocks y (the reference quantizer)
//   flm_<f>_vec_dot_ref(n, s, x, y)  *s = dot of weight row x and activation row y,
//                                    y in the format's vec_dot_type
// k and n must be multiples of the block size (FLM_ASSERT'ed): callers size
// rows from validated tensor shapes. The block layouts are in quant/blocks.h.
//
// Weight quantizers produce the same bytes as ggml's *_ref quantizers (no
// importance matrix). Activation quantizers (q8_0, q8_1, q8_K) produce the
// same bytes as ggml's portable ones; see flm_quant_act_from_float for the
// variants llama.cpp's SIMD builds use. The dot products repeat the integer
// and float operations of ggml's scalar (generic) dot products in their
// source order, never fused (llama.cpp's own build may contract a * b - c * d
// into an FMA: one rounding apart); llama.cpp's SIMD paths sum the same block
// terms in another order. tests/quant/ggml_ref_test.c checks all of this
// against llama.cpp's libraries.

// x F32 . y F32: float products summed in double
void flm_f32_dequantize_ref(const void *x, float *y, int64_t k);
void flm_f32_quantize_ref(const float *x, void *y, int64_t k);
void flm_f32_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x F16 . y F16: exact products summed in double (ggml_vec_dot_f16)
void flm_f16_dequantize_ref(const void *x, float *y, int64_t k);
void flm_f16_quantize_ref(const float *x, void *y, int64_t k);
void flm_f16_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x BF16 . y BF16: exact products summed in double (ggml_vec_dot_bf16)
void flm_bf16_dequantize_ref(const void *x, float *y, int64_t k);
void flm_bf16_quantize_ref(const float *x, void *y, int64_t k);
void flm_bf16_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q4_0 . y Q8_0
void flm_q4_0_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q4_0_quantize_ref(const float *x, void *y, int64_t k);
void flm_q4_0_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q4_1 . y Q8_1
void flm_q4_1_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q4_1_quantize_ref(const float *x, void *y, int64_t k);
void flm_q4_1_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q5_0 . y Q8_0
void flm_q5_0_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q5_0_quantize_ref(const float *x, void *y, int64_t k);
void flm_q5_0_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q5_1 . y Q8_1
void flm_q5_1_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q5_1_quantize_ref(const float *x, void *y, int64_t k);
void flm_q5_1_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q8_0 . y Q8_0; also the activations of q4_0/q5_0/q8_0
void flm_q8_0_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q8_0_quantize_ref(const float *x, void *y, int64_t k);
void flm_q8_0_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// activations of q4_1/q5_1 only (no dot)
void flm_q8_1_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q8_1_quantize_ref(const float *x, void *y, int64_t k);

// x Q2_K . y Q8_K
void flm_q2_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q2_K_quantize_ref(const float *x, void *y, int64_t k);
void flm_q2_K_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q3_K . y Q8_K
void flm_q3_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q3_K_quantize_ref(const float *x, void *y, int64_t k);
void flm_q3_K_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q4_K . y Q8_K
void flm_q4_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q4_K_quantize_ref(const float *x, void *y, int64_t k);
void flm_q4_K_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q5_K . y Q8_K
void flm_q5_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q5_K_quantize_ref(const float *x, void *y, int64_t k);
void flm_q5_K_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// x Q6_K . y Q8_K
void flm_q6_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q6_K_quantize_ref(const float *x, void *y, int64_t k);
void flm_q6_K_vec_dot_ref(int64_t n, float *s, const void *x, const void *y);

// activations of the K-quants only (no dot)
void flm_q8_K_dequantize_ref(const void *x, float *y, int64_t k);
void flm_q8_K_quantize_ref(const float *x, void *y, int64_t k);

// Q8_0 / Q8_1 activation quantizers as llama.cpp's x86 AVX/AVX2 build computes
// them (the path its CPU backend takes on this project's x86 machines): the
// multiplier is 127/amax instead of 1/(amax/127) and halves round to even
// instead of away from zero. The result differs from the _ref quantizer only
// in rare elements that sit on (or within an ulp of) a rounding boundary.
void flm_q8_0_quantize_x86_ref(const float *x, void *y, int64_t k);
void flm_q8_1_quantize_x86_ref(const float *x, void *y, int64_t k);

// The same as llama.cpp's AArch64 NEON build computes them: the portable
// multiplier 1/(amax/127), halves rounded to even (its FCVTNS); s = f16(d *
// sum). Differs from the _ref quantizer only on exact rounding ties.
void flm_q8_0_quantize_arm_ref(const float *x, void *y, int64_t k);
void flm_q8_1_quantize_arm_ref(const float *x, void *y, int64_t k);

#endif
