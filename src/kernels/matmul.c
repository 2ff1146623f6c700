// matmul.c - quantize activations once, then one vec_dot per output (a 4-row kernel, same bits, where one exists).
#include "kernels/matmul.h"

#include "kernels/dispatch.h"
#include "kernels/kq_batch.h"
#include "kernels/q4_0_tiled.h"
#include "quant/quant.h"

#include <string.h>

// Q4_0 also keeps each activation block's sum of codes (kernels/q4_0_tiled.h),
// after the quantized rows, from the next multiple of 64 bytes.
static size_t sums_bytes(enum flm_type t, int64_t k, int n) {
    return t == FLM_TYPE_Q4_0 ? 64 + (size_t)(k / 32) * (size_t)n * sizeof(int32_t) : 0;
}

size_t flm_matmul_scratch_bytes(enum flm_type t, int64_t k, int n) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    if (!tr) return 0;
    return flm_type_row_size(tr->vec_dot_type, k) * (size_t)n + sums_bytes(t, k, n);
}

struct matmul_job {
    const struct flm_mat         *w;
    const struct flm_type_traits *tr;
    flm_vec_dot_fn                vec_dot;   // dispatched: best variant for this CPU
    flm_vec_dot_fn                vec_dot4;  // one activation row below n4 (a row of a group of four)
    int                           n4;        // activation rows in groups of four
    flm_vec_dot4_fn               rows4;     // a group of four rows per call (vec_dot4's bits), or NULL
    flm_q4_0_rows_fn              q4_0_rows; // FLM_ORDER_Q4_0_TILED: whole bands of rows
    struct flm_q4_0_rows_args     q4_0;
    const char                   *xq;        // activations in vec_dot_type
    size_t                        xq_stride;
    int                           n;
    float                        *y;
    size_t                        ldy;
};

// Each thread takes a contiguous band of weight rows and runs every
// activation row against it, so each weight row is read from memory once.
static void matmul_worker(void *arg, int ith, int nth) {
    const struct matmul_job *job = arg;
    const struct flm_mat *w = job->w;
    long lo, hi;
    if (job->q4_0_rows) {  // bands of whole 16-row tiles
        const long tile = 16;
        flm_split(((long)w->n_rows + tile - 1) / tile, ith, nth, &lo, &hi);
        lo *= tile;
        hi = hi * tile < (long)w->n_rows ? hi * tile : (long)w->n_rows;
        if (lo < hi) job->q4_0_rows(&job->q4_0, lo, hi);
        return;
    }
    flm_split((long)w->n_rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const char *wr = (const char *)w->data + (size_t)r * w->row_bytes;
        int i = 0;
        if (job->rows4) {  // the same bits as vec_dot4 per row, the weight row read once per 4
            for (; i + 4 <= job->n4; i += 4) {
                float s4[4];
                job->rows4(w->n_cols, s4, wr, job->xq + (size_t)i * job->xq_stride, job->xq_stride);
                for (int k = 0; k < 4; k++) job->y[(size_t)(i + k) * job->ldy + (size_t)r] = s4[k];
            }
        }
        for (; i < job->n; i++) {
            float s;
            (i < job->n4 ? job->vec_dot4 : job->vec_dot)(w->n_cols, &s, wr, job->xq + (size_t)i * job->xq_stride);
            job->y[(size_t)i * job->ldy + (size_t)r] = s;
        }
    }
}

static void matmul_impl(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y, size_t ldy,
                        void *scratch, bool single) {
    const struct flm_type_traits *tr = flm_quant_traits(w->type);
    const flm_from_float_fn quantize = flm_quant_act_from_float(tr->vec_dot_type);
    struct matmul_job job = {.w = w, .tr = tr, .vec_dot = flm_kernel_vec_dot(w->type), .n = n, .y = y, .ldy = ldy};
    job.vec_dot4 = job.vec_dot;
    job.n4 = n - n % 4;
    if (w->order == FLM_ORDER_Q4_K_TILED) {  // groups of four rows in one order, the rest in another
        job.vec_dot = flm_kernel_q4_K_tiled(false);
        job.vec_dot4 = flm_kernel_q4_K_tiled(true);
        if (single) {  // every row as a one-row call: the leftover-row kernel
            job.vec_dot4 = job.vec_dot;
            job.n4 = 0;
        } else {
            job.rows4 = flm_kernel_q4_K_tiled4();
        }
    } else if (w->order == FLM_ORDER_Q4_0_TILED) {  // one order whatever the row count
        job.q4_0_rows = flm_kernel_q4_0_rows();
    } else if (!single && n >= FLM_KQ_BATCH_MIN_ROWS && flm_kernel_kq_batch(w->type)) {
        job.vec_dot = job.vec_dot4 = flm_kernel_kq_batch(w->type);
        job.rows4 = flm_kernel_kq_batch4(w->type);
    } else if (w->order == FLM_ORDER_ROW) {
        job.rows4 = flm_kernel_vec_dot4(w->type);  // pairs with job.vec_dot (same ISA)
    }
    if (tr->vec_dot_type == FLM_TYPE_F32) {
        job.xq = (const char *)x;
        job.xq_stride = (size_t)w->n_cols * sizeof(float);
    } else {
        job.xq_stride = flm_type_row_size(tr->vec_dot_type, w->n_cols);
        for (int i = 0; i < n; i++)
            quantize(x + (size_t)i * (size_t)w->n_cols, (char *)scratch + (size_t)i * job.xq_stride, w->n_cols);
        job.xq = scratch;
    }
    if (job.q4_0_rows) {
        const size_t at = (job.xq_stride * (size_t)n + 63) / 64 * 64;  // scratch itself is malloc-aligned
        int32_t *sums = (int32_t *)((char *)scratch + at);
        const int64_t nb = w->n_cols / 32;
        for (int i = 0; i < n; i++) flm_q4_0_block_sums(job.xq + (size_t)i * job.xq_stride, w->n_cols, sums + i * nb);
        job.q4_0 = (struct flm_q4_0_rows_args){.k = w->n_cols, .w = w->data, .row_bytes = w->row_bytes,
                                               .xq = job.xq, .xq_stride = job.xq_stride, .xsum = sums, .n = n,
                                               .y = y, .y_stride = ldy};
    }
    flm_pool_run(pool, matmul_worker, &job);
}

void flm_matmul(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y, void *scratch) {
    matmul_impl(pool, w, x, n, y, (size_t)w->n_rows, scratch, false);
}

void flm_matmul_ld(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y, size_t ldy,
                   void *scratch, bool single_order) {
    matmul_impl(pool, w, x, n, y, ldy, scratch, single_order);
}

// rows4 stays: it gives the same bits as vec_dot per row.
void flm_matmul_single_order(struct flm_pool *pool, const struct flm_mat *w, const float *x, int n, float *y,
                             void *scratch) {
    matmul_impl(pool, w, x, n, y, (size_t)w->n_rows, scratch, true);
}

void flm_mat_row_to_float(const struct flm_mat *w, int64_t r, float *out) {
    const struct flm_type_traits *tr = flm_quant_traits(w->type);
    tr->to_float((const char *)w->data + (size_t)r * w->row_bytes, out, w->n_cols);
}
