// q4_0_tiled_x86.h - x86 variants of the llama.cpp-order Q4_0 product of
// kernels/q4_0_tiled.h (same bits as flm_q4_0_rows_ref).
#ifndef FLM_KERNELS_Q4_0_TILED_X86_H
#define FLM_KERNELS_Q4_0_TILED_X86_H

#include "kernels/q4_0_tiled.h"

void flm_q4_0_rows_avx512(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1);
void flm_q4_0_rows_avx2(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1);

#endif
