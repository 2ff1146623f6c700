// axpy_avx512.c - y += sum over rows of a[r] * dequant(Q8_0 row r), one
// block (two vectors of sixteen lanes) of y held in registers across the rows.
#include "kernels/x86/axpy_x86.h"

#include "quant/blocks.h"

#include <immintrin.h>

static inline __m512 w16(const struct flm_block_q8_0 *b, int j, __m512 d) {
  const __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b->qs + j));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d);
}

void flm_q8_0_axpy_avx512(int64_t n, int nr, const float *a,
                          const void *const *x, float *y) {
  for (int64_t i = 0; i < n / FLM_QK8_0; i++, y += FLM_QK8_0) {
    __m512 y0 = _mm512_loadu_ps(y), y1 = _mm512_loadu_ps(y + 16);
    for (int r = 0; r < nr; r++) {
      const struct flm_block_q8_0 *b = (const struct flm_block_q8_0 *)x[r] + i;
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d)),
                   va = _mm512_set1_ps(a[r]);
      y0 = _mm512_fmadd_ps(va, w16(b, 0, d), y0);
      y1 = _mm512_fmadd_ps(va, w16(b, 16, d), y1);
    }
    _mm512_storeu_ps(y, y0);
    _mm512_storeu_ps(y + 16, y1);
  }
}
