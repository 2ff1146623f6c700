// matmul_sparse.c - selected rows, or selected column blocks, of a matrix times
// one activation row.
#include "kernels/matmul_sparse.h"

#include "kernels/dispatch.h"
#include "quant/quant.h"

#include <string.h>

struct sparse_job {
  const struct flm_mat *w;
  flm_vec_dot_fn vec_dot;
  const char *xq;
  const int32_t *live;
  const int32_t *rows; // row of w holding live[k]
  int32_t n_live;
  const uint8_t *block_live;
  int64_t bs;    // columns per block
  size_t wb, xb; // bytes of one block of weights / of activations
  float *y;
};

// The activation in the weight's vec_dot_type: scratch, or x itself for F32.
static const char *quantize_x(const struct flm_mat *w, const float *x,
                              void *scratch) {
  const struct flm_type_traits *tr = flm_quant_traits(w->type);
  if (tr->vec_dot_type == FLM_TYPE_F32)
    return (const char *)x;
  flm_quant_act_from_float(tr->vec_dot_type)(x, scratch, w->n_cols);
  return scratch;
}

static void rows_worker(void *arg, int ith, int nth) {
  const struct sparse_job *j = arg;
  long lo, hi;
  flm_split(j->n_live, ith, nth, &lo, &hi);
  for (long k = lo; k < hi; k++) {
    j->vec_dot(j->w->n_cols, &j->y[j->live[k]],
               (const char *)j->w->data + (size_t)j->rows[k] * j->w->row_bytes,
               j->xq);
  }
}

void flm_matmul_rows_at(struct flm_pool *pool, const struct flm_mat *w,
                        const float *x, const int32_t *live,
                        const int32_t *rows, int32_t n_live, float *y,
                        void *scratch) {
  struct sparse_job j = {.w = w,
                         .vec_dot = flm_kernel_vec_dot(w->type),
                         .xq = quantize_x(w, x, scratch),
                         .live = live,
                         .rows = rows,
                         .n_live = n_live,
                         .y = y};
  flm_pool_run(pool, rows_worker, &j);
}

void flm_matmul_rows(struct flm_pool *pool, const struct flm_mat *w,
                     const float *x, const int32_t *live, int32_t n_live,
                     float *y, void *scratch) {
  flm_matmul_rows_at(pool, w, x, live, live, n_live, y, scratch);
}

int64_t flm_matmul_col_block(const struct flm_mat *w) {
  const struct flm_type_traits *tr = flm_quant_traits(w->type);
  const int64_t a = flm_type_layout(w->type)->blck_size,
                b = flm_type_layout(tr->vec_dot_type)->blck_size;
  return a > b ? a : b; // 1 and 32, or 256 and 256, or 32 and 32: one divides
                        // the other
}

static void cols_worker(void *arg, int ith, int nth) {
  const struct sparse_job *j = arg;
  const int64_t nb = j->w->n_cols / j->bs;
  long lo, hi;
  flm_split((long)j->w->n_rows, ith, nth, &lo, &hi);
  for (long r = lo; r < hi; r++) {
    const char *wr = (const char *)j->w->data + (size_t)r * j->w->row_bytes;
    float sum = 0.0f;
    for (int64_t b = 0; b < nb;) {
      if (!j->block_live[b]) {
        b++;
        continue;
      }
      int64_t e = b + 1;
      while (e < nb && j->block_live[e])
        e++;
      float s;
      j->vec_dot((e - b) * j->bs, &s, wr + (size_t)b * j->wb,
                 j->xq + (size_t)b * j->xb);
      sum += s;
      b = e;
    }
    j->y[r] = sum;
  }
}

void flm_matmul_cols(struct flm_pool *pool, const struct flm_mat *w,
                     const float *x, const uint8_t *block_live, float *y,
                     void *scratch) {
  const struct flm_type_traits *tr = flm_quant_traits(w->type);
  const int64_t bs = flm_matmul_col_block(w);
  struct sparse_job j = {.w = w,
                         .vec_dot = flm_kernel_vec_dot(w->type),
                         .xq = quantize_x(w, x, scratch),
                         .block_live = block_live,
                         .bs = bs,
                         .y = y,
                         .wb = flm_type_row_size(w->type, bs),
                         .xb = flm_type_row_size(tr->vec_dot_type, bs)};
  flm_pool_run(pool, cols_worker, &j);
}

struct t_job {
  const struct flm_mat *w;
  const float *x;
  const int32_t *live;
  const int32_t *rows;
  int32_t n_live;
  float *y;
  bool accumulate;
  flm_axpy_fn
      axpy; // the type's kernel, or NULL: dequantize, then multiply and add
};

#define AXPY_ROWS 8 // rows per axpy call

static void t_rows_worker(void *arg, int ith, int nth) {
  const struct t_job *j = arg;
  const struct flm_type_traits *tr = flm_quant_traits(j->w->type);
  const int64_t bs = flm_type_layout(j->w->type)->blck_size;
  const int64_t per = bs > 64 ? bs : 64; // columns dequantized at a time
  enum { CHUNK = 256 };
  long lo, hi;
  flm_split((long)((j->w->n_cols + per - 1) / per), ith, nth, &lo, &hi);
  const int64_t end = hi * per < j->w->n_cols ? hi * per : j->w->n_cols;
  for (int64_t c0 = lo * per; c0 < end; c0 += CHUNK) {
    const int64_t n = end - c0 < CHUNK
                          ? end - c0
                          : CHUNK; // a multiple of bs: per and CHUNK are
    float acc[CHUNK] = {0}, tmp[CHUNK];
    if (j->accumulate)
      memcpy(acc, j->y + c0, sizeof(float) * (size_t)n);
    const size_t off = flm_type_row_size(j->w->type, c0);
    if (j->axpy) { // AXPY_ROWS rows per call, acc kept in registers across them
      for (int32_t k0 = 0; k0 < j->n_live; k0 += AXPY_ROWS) {
        const int nr =
            j->n_live - k0 < AXPY_ROWS ? (int)(j->n_live - k0) : AXPY_ROWS;
        float a[AXPY_ROWS];
        const void *rp[AXPY_ROWS];
        for (int r = 0; r < nr; r++) {
          a[r] = j->x[j->live[k0 + r]];
          rp[r] = (const char *)j->w->data +
                  (size_t)j->rows[k0 + r] * j->w->row_bytes + off;
        }
        j->axpy(n, nr, a, rp, acc);
      }
    } else {
      for (int32_t k = 0; k < j->n_live; k++) {
        tr->to_float((const char *)j->w->data +
                         (size_t)j->rows[k] * j->w->row_bytes + off,
                     tmp, n);
        const float a = j->x[j->live[k]];
        for (int64_t e = 0; e < n; e++)
          acc[e] += a * tmp[e];
      }
    }
    memcpy(j->y + c0, acc, sizeof(float) * (size_t)n);
  }
}

void flm_matmul_t_rows_at(struct flm_pool *pool, const struct flm_mat *w,
                          const float *x, const int32_t *live,
                          const int32_t *rows, int32_t n_live, float *y,
                          bool accumulate) {
  struct t_job j = {w,      x, live,       rows,
                    n_live, y, accumulate, flm_kernel_axpy(w->type)};
  flm_pool_run(pool, t_rows_worker, &j);
}

void flm_matmul_t_rows(struct flm_pool *pool, const struct flm_mat *w,
                       const float *x, const int32_t *live, int32_t n_live,
                       float *y) {
  flm_matmul_t_rows_at(pool, w, x, live, live, n_live, y, false);
}
