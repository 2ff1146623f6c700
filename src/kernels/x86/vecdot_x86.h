// vecdot_x86.h - x86 SIMD variants of the quant dot products.
//
// Every function here has the flm_vec_dot_fn signature and computes what the
// scalar oracle flm_<t>_vec_dot_ref computes (quant/quant.h), with llama.cpp's
// x86 float summation order: the same eight float lanes, the same FMAs and
// the same final horizontal reduction as ggml's AVX2 ggml_vec_dot_<t>_<vdt>
// (ggml-cpu/arch/x86/quants.c), so that on the same blocks the result is the
// same float as llama.cpp's CPU backend computes. Integer parts are exact, so
// they are free to differ in how they get their (identical) lane values.
//
// _avx2 variants need AVX2+FMA+F16C; _avx512 variants are the same code built
// with AVX-512 VNNI (vpdpbusd for the 8-bit products, as llama.cpp's AVX-512
// build does) and give bit-identical results. Only kernels/dispatch.c and the
// tests call these; everything else goes through flm_kernel_vec_dot().
// n must be a multiple of the block size; it is FLM_ASSERT'ed.
//
// The _vec_dot4 variants (flm_vec_dot4_fn, kernels/dispatch.h) take one
// weight row and four activation rows at y + k * y_stride (k < 4) and write
// the four dots to s[0..3]; each is bit-identical to the 1-row variant on
// that activation row (same lanes, FMAs, order and hsum), only the weight
// block's loading and unpacking are shared.
#ifndef FLM_KERNELS_X86_VECDOT_X86_H
#define FLM_KERNELS_X86_VECDOT_X86_H

#include <stddef.h>
#include <stdint.h>

#define FLM_VECDOT_X86_DECLARE(isa)                                                         \
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
    void flm_q4_1_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride); \
    void flm_q8_0_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride); \
    void flm_q5_0_vec_dot4_##isa(int64_t n, float *s, const void *x, const void *y, size_t y_stride);

FLM_VECDOT_X86_DECLARE(avx2)
FLM_VECDOT_X86_DECLARE(avx512)

#endif
