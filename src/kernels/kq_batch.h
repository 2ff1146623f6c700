// kq_batch.h - K-quant dot products in the order of llama.cpp's batched
// ("tiled") matrix multiply.
//
// llama.cpp multiplies a K-quant weight matrix it did not repack with a
// separate tiled kernel once the call has 8 or more activation rows; below
// that it uses its vector dot. The tiled kernel sums each superblock's exact
// integer products, then per superblock
//   Q6_K: acc = fma(round(isum * d), d_act, acc)
//   Q4_K: acc = fma(fma(-dmin, imin, round(isum * d)), d_act, acc)
// with no lanes and no final reduction. Signatures are flm_vec_dot_fn's.
#ifndef FLM_KERNELS_KQ_BATCH_H
#define FLM_KERNELS_KQ_BATCH_H

#include "core/types.h"
#include "quant/quant.h"

#include <stdint.h>

// Calls with at least this many activation rows take the batched order.
#define FLM_KQ_BATCH_MIN_ROWS 8

void flm_q6_K_dot_batch_ref(int64_t n, float *s, const void *x, const void *y);
void flm_q4_K_dot_batch_ref(int64_t n, float *s, const void *x, const void *y);

// The batched-order dot for type t, or NULL when t keeps its vector dot.
flm_vec_dot_fn flm_kq_batch_dot(enum flm_type t);

#endif
