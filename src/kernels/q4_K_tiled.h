// q4_K_tiled.h - Q4_K x Q8_K dot products in the order of llama.cpp's
// repacked Q4_K kernels.
//
// On x86 llama.cpp repacks every Q4_K weight matrix (rows a multiple of 8)
// into interleaved 8-row blocks at load and multiplies it with two kernels
// whose float steps differ from its plain dot product and from each other:
//   - activation rows inside groups of four (its gemm): per superblock and
//     per pair of 32-element sub-blocks, the integer sum S and min sum M go
//     through acc = fma(S, d*da, acc) and acc_min = fma(M, dmin*da, acc_min);
//   - the rows left over and one-token passes (its gemv): the same once per
//     superblock, with S and M summed over all eight sub-blocks.
// Both end with acc - acc_min. The integer sums are exact in any order, so
// only these float steps decide the bits; reproducing them keeps logits equal
// to llama.cpp's. Signatures are those of flm_vec_dot_fn.
#ifndef FLM_KERNELS_Q4_K_TILED_H
#define FLM_KERNELS_Q4_K_TILED_H

#include <stdint.h>

void flm_q4_K_dot_group4_ref(int64_t n, float *s, const void *x, const void *y);
void flm_q4_K_dot_single_ref(int64_t n, float *s, const void *x, const void *y);

#endif
