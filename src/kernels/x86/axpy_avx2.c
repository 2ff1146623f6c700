// axpy_avx2.c - y += sum over rows of a[r] * dequant(Q8_0 row r), one block
// (four vectors of eight lanes) of y held in registers across the rows.
#include "kernels/x86/axpy_x86.h"

#include "quant/blocks.h"

#include <immintrin.h>

static inline __m256 w8(const struct flm_block_q8_0 *b, int j, __m256 d) {
  const __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(b->qs + j));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
}

void flm_q8_0_axpy_avx2(int64_t n, int nr, const float *a, const void *const *x,
                        float *y) {
  for (int64_t i = 0; i < n / FLM_QK8_0; i++, y += FLM_QK8_0) {
    __m256 y0 = _mm256_loadu_ps(y), y1 = _mm256_loadu_ps(y + 8),
           y2 = _mm256_loadu_ps(y + 16), y3 = _mm256_loadu_ps(y + 24);
    for (int r = 0; r < nr; r++) {
      const struct flm_block_q8_0 *b = (const struct flm_block_q8_0 *)x[r] + i;
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)),
                   va = _mm256_set1_ps(a[r]);
      y0 = _mm256_fmadd_ps(va, w8(b, 0, d), y0);
      y1 = _mm256_fmadd_ps(va, w8(b, 8, d), y1);
      y2 = _mm256_fmadd_ps(va, w8(b, 16, d), y2);
      y3 = _mm256_fmadd_ps(va, w8(b, 24, d), y3);
    }
    _mm256_storeu_ps(y, y0);
    _mm256_storeu_ps(y + 8, y1);
    _mm256_storeu_ps(y + 16, y2);
    _mm256_storeu_ps(y + 24, y3);
  }
}
