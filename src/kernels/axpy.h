// axpy.h - a quantized row scaled into a float accumulator: y[e] += a * w[e]
// for e < n, w one row (or a column range of one) of a quantized matrix.
// It is the inner step of a product with selected rows of a transposed
// matrix (kernels/matmul_sparse.h: the down columns of live FFN neurons).
//
// A call takes nr rows and adds them in order, x[0] first: the bits of nr
// calls of one row each, with y read and written once per call instead of
// once per row. The arithmetic is defined by the scalar reference, and every
// variant gives its bits: per element w[e] = (float)q[e] * d, rounded, then
// one fused multiply-add y[e] = fma(a[r], w[e], y[e]).
#ifndef FLM_KERNELS_AXPY_H
#define FLM_KERNELS_AXPY_H

#include <stdint.h>

// n: a multiple of the type's block size; x[r]: n elements of quantized blocks.
typedef void (*flm_axpy_fn)(int64_t n, int nr, const float *a, const void *const *x, float *y);

void flm_q8_0_axpy_ref(int64_t n, int nr, const float *a, const void *const *x, float *y);

#endif
