// axpy_test.c - y += sum of a[r] * (quantized row r): the scalar reference
// is the dequantized rows times a, added element by element (to float
// rounding); a call over nr rows gives the bits of nr calls of one row; and
// every SIMD variant this CPU runs gives exactly the reference's bits, on
// awkward lengths (one block, odd block counts, long rows) and row counts (1,
// 3, 8), for scales of both signs, zero and tiny ones, onto non-zero
// accumulators.
#include "test_util.h"

#include "kernels/dispatch.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

static void check(enum flm_type t, int64_t n, int nr, float a0, uint64_t seed) {
  const size_t rb = flm_type_row_size(t, n);
  char *q = malloc(rb * (size_t)nr);
  const void *rows[8];
  float a[8];
  float *w = malloc(sizeof(float) * (size_t)n * (size_t)nr),
        *y0 = malloc(sizeof(float) * (size_t)n),
        *ref = malloc(sizeof(float) * (size_t)n),
        *one = malloc(sizeof(float) * (size_t)n),
        *y = malloc(sizeof(float) * (size_t)n);
  for (int r = 0; r < nr; r++) {
    float *wr = w + (size_t)r * (size_t)n;
    for (int64_t i = 0; i < n; i++)
      wr[i] = flm_test_randf(&seed) * (float)(1 + (i + r) % 5);
    flm_quant_traits(t)->from_float(wr, q + (size_t)r * rb, n);
    flm_quant_traits(t)->to_float(q + (size_t)r * rb, wr, n);
    rows[r] = q + (size_t)r * rb;
    a[r] = r == 0 ? a0 : a0 * (float)(r + 1) - 0.25f * (float)r;
  }
  for (int64_t i = 0; i < n; i++)
    y0[i] = flm_test_randf(&seed) * 3.0f;
  memcpy(ref, y0, sizeof(float) * (size_t)n);
  flm_kernel_axpy_isa(t, FLM_ISA_SCALAR)(n, nr, a, rows, ref);
  for (int64_t i = 0; i < n; i++) { // the reference against plain arithmetic
    double e = y0[i], mag = fabs(e);
    for (int r = 0; r < nr; r++)
      e += (double)a[r] * w[(size_t)r * (size_t)n + (size_t)i],
          mag += fabs((double)a[r] * w[(size_t)r * (size_t)n + (size_t)i]);
    if (fabs(ref[i] - e) > 1e-6 * (1.0 + mag))
      fail_msg("type %d n %lld: element %lld %g, expected %g", (int)t,
               (long long)n, (long long)i, (double)ref[i], e);
  }
  memcpy(one, y0,
         sizeof(float) *
             (size_t)n); // nr rows in one call: the bits of one row per call
  for (int r = 0; r < nr; r++)
    flm_kernel_axpy_isa(t, FLM_ISA_SCALAR)(n, 1, a + r, rows + r, one);
  assert_memory_equal(one, ref, sizeof(float) * (size_t)n);
  for (int isa = FLM_ISA_SCALAR + 1; isa < FLM_ISA_COUNT; isa++) {
    const flm_axpy_fn f = flm_kernel_axpy_isa(t, (enum flm_isa)isa);
    if (!f)
      continue;
    memcpy(y, y0, sizeof(float) * (size_t)n);
    f(n, nr, a, rows, y);
    if (memcmp(y, ref, sizeof(float) * (size_t)n))
      fail_msg("%s type %d n %lld nr %d a %g: not the reference's bits",
               flm_isa_name((enum flm_isa)isa), (int)t, (long long)n, nr,
               (double)a0);
  }
  memcpy(y, y0,
         sizeof(float) * (size_t)n); // what dispatch hands out is one of them
  flm_kernel_axpy(t)(n, nr, a, rows, y);
  assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
  free(q), free(w), free(y0), free(ref), free(one), free(y);
}

static void test_q8_0(void **state) {
  (void)state;
  const int64_t ns[] = {32, 64, 96, 224, 576, 2048 + 32};
  const float as[] = {1.0f, -0.37f, 0.0f, 1e-30f, 123.5f};
  uint64_t seed = 7;
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    for (size_t j = 0; j < sizeof as / sizeof as[0]; j++)
      for (int nr = 1; nr <= 8; nr += nr < 3 ? 2 : 5)
        check(FLM_TYPE_Q8_0, ns[i], nr, as[j], seed++);
}

static void test_types_without_kernel(void **state) {
  (void)state;
  assert_null(flm_kernel_axpy(FLM_TYPE_Q4_K));
  assert_null(flm_kernel_axpy_isa(FLM_TYPE_F32, FLM_ISA_SCALAR));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_q8_0), cmocka_unit_test(test_types_without_kernel)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
