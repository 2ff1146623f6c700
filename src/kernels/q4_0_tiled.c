// q4_0_tiled.c - scalar Q4_0 products in llama.cpp's repacked-kernel order.
#include "kernels/q4_0_tiled.h"

#include "core/fp16.h"
#include "quant/blocks.h"

#include <math.h>

void flm_q4_0_dot_seq_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const struct flm_block_q4_0 *x = vx;
    const struct flm_block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / FLM_QK4_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < FLM_QK4_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + FLM_QK4_0 / 2];
        }
        acc = fmaf((float)isum, flm_f16_to_f32(x[b].d) * flm_f16_to_f32(y[b].d), acc);
    }
    *s = acc;
}

void flm_q4_0_rows_ref(const struct flm_q4_0_rows_args *a, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const char *wr = (const char *)a->w + (size_t)r * a->row_bytes;
        for (int i = 0; i < a->n; i++)
            flm_q4_0_dot_seq_ref(a->k, &a->y[i * a->y_stride + r], wr, (const char *)a->xq + (size_t)i * a->xq_stride);
    }
}

void flm_q4_0_block_sums(const void *xq, int64_t k, int32_t *out) {
    const struct flm_block_q8_0 *x = xq;
    for (int64_t b = 0; b < k / FLM_QK8_0; b++) {
        int32_t s = 0;
        for (int j = 0; j < FLM_QK8_0; j++) s += x[b].qs[j];
        out[b] = s;
    }
}
