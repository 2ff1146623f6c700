// axpy_x86.h - x86 SIMD variants of kernels/axpy.h (same bits as the
// references: the dequantized weight rounded, then one FMA per element, rows
// in order). _avx2 needs AVX2+FMA+F16C; _avx512 AVX-512F. Only
// kernels/dispatch.c and the tests call these.
#ifndef FLM_KERNELS_X86_AXPY_X86_H
#define FLM_KERNELS_X86_AXPY_X86_H

#include <stdint.h>

void flm_q8_0_axpy_avx2(int64_t n, int nr, const float *a, const void *const *x, float *y);
void flm_q8_0_axpy_avx512(int64_t n, int nr, const float *a, const void *const *x, float *y);

#endif
