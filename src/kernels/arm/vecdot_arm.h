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
//
// Also here, with the same suffixes: the llama.cpp-order K-quant dots of
// kernels/q4_K_tiled.h and kernels/kq_batch.h (flm_q4_K_dot_group4_,
// _single_, _batch_, flm_q6_K_dot_batch_), bit-identical to their scalar
// references (exact integer sums, then the references' own float steps), so
// that Q4_K / Q6_K matrices, which the engine multiplies in those orders, run
// in NEON too; and the 4-row _vec_dot4 variants (flm_vec_dot4_fn) for Q4_1,
// Q8_0 and Q5_0, each row bit-identical to the 1-row kernel of its suffix.
#ifndef FLM_KERNELS_ARM_VECDOT_ARM_H
#define FLM_KERNELS_ARM_VECDOT_ARM_H

#include <stddef.h>
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
    void flm_q6_K_vec_dot_##isa(int64_t n, float *s, const void *x, const void *y);         \
    void flm_q4_K_dot_group4_##isa(int64_t n, float *s, const void *x, const void *y);      \
    void flm_q4_K_dot_single_##isa(int64_t n, float *s, const void *x, const void *y);      \
    void flm_q4_K_dot_batch_##isa(int64_t n, float *s, const void *x, const void *y);       \
    void flm_q6_K_dot_batch_##isa(int64_t n, float *s, const void *x, const void *y);       \
    void flm_q4_1_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride); \
    void flm_q8_0_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride); \
    void flm_q5_0_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride);

FLM_VECDOT_ARM_DECLARE(neon)
FLM_VECDOT_ARM_DECLARE(dotprod)

#endif
