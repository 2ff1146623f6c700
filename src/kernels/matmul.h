// matmul.h - weight matrix times activation rows, the bulk of the forward pass.
//
// A weight matrix is a view of n_rows rows of n_cols elements of one type
// (GGUF ne[0] = n_cols, ne[1] = n_rows). Activations are float rows; they are
// first converted to the weight type's vec_dot_type (e.g. Q8_0 for Q4_0
// weights) once, then every output is one vec_dot of a weight row with an
// activation row, as llama.cpp does on the CPU. Rows are split across the
// pool's threads; the kernel never allocates: the caller hands it scratch of
// flm_matmul_scratch_bytes().
#ifndef FLM_KERNELS_MATMUL_H
#define FLM_KERNELS_MATMUL_H

#include "core/threads.h"
#include "core/types.h"

#include <stddef.h>
#include <stdint.h>

// Order of the float steps in each dot product, chosen to be llama.cpp's so
// that results are bit-identical to it. FLM_ORDER_ROW is the plain dot
// (flm_kernel_vec_dot), or for K-quants in calls of 8+ activation rows the
// order of its batched kernel (kernels/kq_batch.h); FLM_ORDER_Q4_K_TILED is
// that of its repacked Q4_K kernels (kernels/q4_K_tiled.h), which depends on
// whether an activation row falls in a group of four of the call;
// FLM_ORDER_Q4_0_TILED that of its repacked Q4_0 kernels (kernels/q4_0_tiled.h).
enum flm_mat_order { FLM_ORDER_ROW = 0, FLM_ORDER_Q4_K_TILED = 1, FLM_ORDER_Q4_0_TILED = 2 };

struct flm_mat {
    enum flm_type      type;
    int64_t            n_cols;     // elements per row (input dimension)
    int64_t            n_rows;     // output dimension
    size_t             row_bytes;
    const void        *data;       // n_rows * row_bytes bytes
    enum flm_mat_order order;
};

// Bytes of scratch flm_matmul needs for n activation rows of k elements
// against weights of type t.
size_t flm_matmul_scratch_bytes(enum flm_type t, int64_t k, int n);

// y[i * w->n_rows + r] = dot(row r of w, x + i * w->n_cols) for i < n.
void flm_matmul(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y, void *scratch);

// Like flm_matmul, but every activation row gets the kernel, and so the bits,
// of a one-row call (no batched K-quant order, no Q4_K groups of four), while
// each weight row is still read once for all n rows. Speculative decoding
// verifies drafted tokens with it so that their logits equal plain decoding's.
void flm_matmul_single_order(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y,
                             void *scratch);

// Either of the above (single_order) with output row i at y + i * ldy
// (ldy >= w->n_rows): a matrix cut into row ranges writes each range's
// columns of the full result.
void flm_matmul_ld(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y, size_t ldy,
                   void *scratch, bool single_order);

// Converts row r of w to floats.
void flm_mat_row_to_float(const struct flm_mat *w, int64_t r, float *out);

#endif
