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
    flm_to_float_fn   to_float;    // dequantize (NULL only for Q8_K... see .c)
    flm_from_float_fn from_float;  // reference quantizer
    flm_vec_dot_fn    vec_dot;     // NULL for activation-only types (Q8_1, Q8_K)
    enum flm_type     vec_dot_type;
};

// NULL when the type has no implementation.
const struct flm_type_traits *flm_quant_traits(enum flm_type t);

#endif
