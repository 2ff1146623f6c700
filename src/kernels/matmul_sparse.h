// matmul_sparse.h - the two halves of a sparse FFN, for one activation row:
// only some rows of a matrix (up: the live neurons), or only some column
// blocks (down: the blocks that hold a live neuron, everything else in x
// being zero). Each reads only the weight bytes it uses; like flm_matmul the
// activation is quantized once to the weight's vec_dot_type (into the
// caller's scratch of flm_matmul_scratch_bytes(type, n_cols, 1)) and every
// dot is the dispatched vec_dot, split across the pool's threads.
//
// flm_matmul_rows gives the same bits as flm_matmul for the rows it computes
// with FLM_ORDER_ROW matrices and one activation row. flm_matmul_cols sums
// per run of live blocks, so it equals the dense product of the zeroed x up
// to float rounding (the skipped blocks contribute exact zeros there).
#ifndef FLM_KERNELS_MATMUL_SPARSE_H
#define FLM_KERNELS_MATMUL_SPARSE_H

#include "kernels/matmul.h"

// y[live[k]] = dot(row live[k] of w, x) for k < n_live; other y untouched.
void flm_matmul_rows(struct flm_pool *pool, const struct flm_mat *w, const float *x, const int32_t *live,
                     int32_t n_live, float *y, void *scratch);

// Like flm_matmul_rows with the weights of live[k] at row rows[k] of w
// (a cache whose slots hold the neurons): y[live[k]] = dot(row rows[k] of w,
// x). The same bits as flm_matmul_rows on a matrix whose row live[k] holds
// those bytes.
void flm_matmul_rows_at(struct flm_pool *pool, const struct flm_mat *w, const float *x, const int32_t *live,
                        const int32_t *rows, int32_t n_live, float *y, void *scratch);

// Columns per block that flm_matmul_cols skips or reads whole: the larger of
// the weight's and its activation type's block sizes (32 for Q4_0..Q8_0, 256
// for K-quants, 1 for F32/F16/BF16).
int64_t flm_matmul_col_block(const struct flm_mat *w);

// y[r] = sum over blocks b with block_live[b] of dot(row r of w, x) over b's
// columns, for every row r: the product with an x that is zero outside the
// live blocks. block_live has n_cols / flm_matmul_col_block(w) entries.
void flm_matmul_cols(struct flm_pool *pool, const struct flm_mat *w, const float *x, const uint8_t *block_live,
                     float *y, void *scratch);

// y[e] = sum over k < n_live of x[live[k]] * w[live[k]][e] for e < n_cols:
// the product of a matrix stored transposed (one row per input, as in a
// row-column bundle) with an x that is zero outside live. Rows are
// accumulated in float in the order of live: for a type with an axpy kernel
// (Q8_0, kernels/axpy.h) one fused multiply-add per element onto the
// dequantized weight, otherwise the dequantized row times x, then added;
// threads split the columns at block boundaries.
void flm_matmul_t_rows(struct flm_pool *pool, const struct flm_mat *w, const float *x, const int32_t *live,
                       int32_t n_live, float *y);

// flm_matmul_t_rows with input live[k]'s row at row rows[k] of w; with
// accumulate the sums start from y instead of 0, so a list cut into parts
// (in order, each part accumulating onto the last) gives the bits of one
// call over the whole list.
void flm_matmul_t_rows_at(struct flm_pool *pool, const struct flm_mat *w, const float *x, const int32_t *live,
                          const int32_t *rows, int32_t n_live, float *y, bool accumulate);

#endif
