// axpy_arm.h - the AArch64 variant of kernels/axpy.h (same bits as the
// reference). Only kernels/dispatch.c and the tests call it.
#ifndef FLM_KERNELS_ARM_AXPY_ARM_H
#define FLM_KERNELS_ARM_AXPY_ARM_H

#include <stdint.h>

void flm_q8_0_axpy_neon(int64_t n, int nr, const float *a, const void *const *x, float *y);

#endif
