// axpy_neon.c - y += sum over rows of a[r] * dequant(Q8_0 row r), one block
// of y (eight vectors of four lanes) held in registers across the rows (NEON
// is baseline on AArch64; vfmaq is the fused multiply-add of the reference).
#include "kernels/arm/axpy_arm.h"

#include "core/fp16.h"
#include "quant/blocks.h"

#include <arm_neon.h>

void flm_q8_0_axpy_neon(int64_t n, int nr, const float *a, const void *const *x,
                        float *y) {
  for (int64_t i = 0; i < n / FLM_QK8_0; i++, y += FLM_QK8_0) {
    float32x4_t acc[8];
    for (int v = 0; v < 8; v++)
      acc[v] = vld1q_f32(y + 4 * v);
    for (int r = 0; r < nr; r++) {
      const struct flm_block_q8_0 *b = (const struct flm_block_q8_0 *)x[r] + i;
      const float32x4_t d = vdupq_n_f32(flm_f16_to_f32(b->d));
      for (int h = 0; h < 4; h++) {
        const int16x8_t q = vmovl_s8(vld1_s8(b->qs + 8 * h));
        const float32x4_t w0 =
            vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d);
        const float32x4_t w1 =
            vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))), d);
        acc[2 * h] = vfmaq_n_f32(acc[2 * h], w0, a[r]);
        acc[2 * h + 1] = vfmaq_n_f32(acc[2 * h + 1], w1, a[r]);
      }
    }
    for (int v = 0; v < 8; v++)
      vst1q_f32(y + 4 * v, acc[v]);
  }
}
