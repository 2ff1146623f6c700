// vecdot_arm.h - AArch64 SIMD variants of the quant dot products.
//
// Every function here has the flm_vec_dot_fn signature and computes what the
// scalar oracle flm_<t>_vec_dot_ref computes (quant/quant.h). The integer
// part of each block (or K-quant super-block) is exact; it is converted once
// and accumulated in float, block after block, in the oracle's order for the
// 32-element types (the same expression per block) and as d * sum - dmin *
// mins per super-block for the K-quants (the oracle sums eight float lanes
// there), so results agree with the oracle within a few roundings of partial
// sums. Bit-parity with llama.cpp is an x86 property of this engine; on ARM
// the oracle is the reference.
//
// _neon variants need only ARMv8.0 Advanced SIMD (every AArch64 CPU); the
// _dotprod variants are the same code built with -march=armv8.2-a+dotprod
// (SDOT for the 8-bit products) and give bit-identical results, since only
// how the exact integers are formed differs. Only kernels/dispatch.c and the
// tests call these; everything else goes through flm_kernel_vec_dot().
// n must be a multiple of the block size; it is FLM_ASSERT'ed.
#ifndef FLM_KERNELS_ARM_VECDOT_ARM_H
#define FLM_KERNELS_ARM_VECDOT_ARM_H

#include <stdint.h>

#define FLM_VECDOT_ARM_DECLARE(isa)                                                         \
    void flm_q4_0_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q4_1_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q5_0_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q5_1_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q8_0_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q2_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q3_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q4_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q5_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q6_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);

FLM_VECDOT_ARM_DECLARE(neon)
FLM_VECDOT_ARM_DECLARE(dotprod)

#endif
