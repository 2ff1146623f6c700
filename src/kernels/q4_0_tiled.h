// q4_0_tiled.h - Q4_0 x Q8_0 matrix products in the order of llama.cpp's
// repacked Q4_0 kernels, read straight from the GGUF's own row layout.
//
// On x86 llama.cpp repacks every Q4_0 weight matrix whose row count is a
// multiple of 8 into interleaved 8-row blocks ("q4_0_8x8") at load, a second
// copy of the weights, and multiplies it with its gemv (one activation row)
// and gemm (groups of four) kernels. Both compute every output the same way:
// starting from 0, for each 32-element block b in order,
//     acc = fma((float)isum_b, d_w[b] * d_a[b], acc)
// where isum_b is the exact integer dot of the block's codes (q - 8) with the
// activation's Q8_0 codes. There are no lanes and no final reduction, unlike
// its plain vec_dot (kernels/x86/vecdot_body.h). The activation rows are the
// row quantizer's Q8_0 blocks (its 4-row interleaved quantizer produces the
// same bytes). Reproducing this keeps logits equal to llama.cpp's without
// the copy: the kernels here take several weight rows at once from the
// original layout instead.
//
// One call multiplies weight rows [r0, r1) by n activation rows. Variants
// (kernels/x86/q4_0_tiled_*.c) give the same bits as the reference.
#ifndef FLM_KERNELS_Q4_0_TILED_H
#define FLM_KERNELS_Q4_0_TILED_H

#include <stddef.h>
#include <stdint.h>

struct flm_q4_0_rows_args {
    int64_t        k;          // elements per row, a multiple of 32
    const void    *w;          // the weight matrix: rows of k/32 Q4_0 blocks
    size_t         row_bytes;  // bytes per weight row (k/32 * 18)
    const void    *xq;         // n activation rows of k/32 Q8_0 blocks
    size_t         xq_stride;  // bytes from one activation row to the next
    const int32_t *xsum;       // [n][k/32]: each activation block's sum of codes
    int            n;          // activation rows
    float         *y;          // out: y[i * y_stride + r]
    int64_t        y_stride;
};

typedef void (*flm_q4_0_rows_fn)(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1);

// The scalar oracle: one output at a time, in the order above.
void flm_q4_0_rows_ref(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1);

// One output of the order above (flm_vec_dot_fn's signature): row x of n
// elements against the Q8_0 row y.
void flm_q4_0_dot_seq_ref(int64_t n, float *s, const void *x, const void *y);

// out[b] = the sum of the 32 codes of Q8_0 block b of the row of k elements at
// xq (what flm_q4_0_rows_args.xsum holds).
void flm_q4_0_block_sums(const void *xq, int64_t k, int32_t *out);

#endif
