// axpy.c - the scalar references of kernels/axpy.h.
#include "kernels/axpy.h"

#include "core/fp16.h"
#include "quant/blocks.h"

#include <math.h>

void flm_q8_0_axpy_ref(int64_t n, int nr, const float *a, const void *const *x,
                       float *y) {
  for (int r = 0; r < nr; r++) {
    const struct flm_block_q8_0 *b = x[r];
    for (int64_t i = 0; i < n / FLM_QK8_0; i++) {
      const float d = flm_f16_to_f32(b[i].d);
      for (int j = 0; j < FLM_QK8_0; j++) {
        const float w = (float)b[i].qs[j] * d;
        y[i * FLM_QK8_0 + j] = fmaf(a[r], w, y[i * FLM_QK8_0 + j]);
      }
    }
  }
}
