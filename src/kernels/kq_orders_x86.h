// kq_orders_x86.h - x86 variants of the llama.cpp-order K-quant dots of
// kernels/q4_K_tiled.h and kernels/kq_batch.h (same bits as the references).
#ifndef FLM_KERNELS_KQ_ORDERS_X86_H
#define FLM_KERNELS_KQ_ORDERS_X86_H

#include <stddef.h>
#include <stdint.h>

void flm_q4_K_dot_group4_avx2(int64_t n, float *s, const void *x, const void *y);
void flm_q4_K_dot_single_avx2(int64_t n, float *s, const void *x, const void *y);
void flm_q4_K_dot_batch_avx2(int64_t n, float *s, const void *x, const void *y);
void flm_q6_K_dot_batch_avx2(int64_t n, float *s, const void *x, const void *y);

// Four outputs of one weight row against four activation rows y_stride
// bytes apart, each with exactly the bits of the one-output version.
void flm_q4_K_dot4_group4_avx2(int64_t n, float *s, const void *x, const void *y, size_t y_stride);
void flm_q4_K_dot4_batch_avx2(int64_t n, float *s, const void *x, const void *y, size_t y_stride);
void flm_q6_K_dot4_batch_avx2(int64_t n, float *s, const void *x, const void *y, size_t y_stride);

#endif
