// float.c - F32, F16 and BF16 rows: conversions and dot products.
//
// The dots follow ggml's scalar paths: each product is formed in float (for
// F16 and BF16 it is exact, 11- or 8-bit mantissas) and summed in double,
// then rounded to float once. For F32 the float product is rounded before
// the double sum, as ggml_vec_dot_f32's scalar path does.
#include "core/fp16.h"
#include "quant/qround.h"
#include "quant/quant.h"

// ---------------------------------------------------------------- F32

void flm_f32_dequantize_ref(const void *x, float *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }

void flm_f32_quantize_ref(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof(float)); }

void flm_f32_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

// ---------------------------------------------------------------- F16

void flm_f16_dequantize_ref(const void *vx, float *y, int64_t k) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < k; ++i) y[i] = flm_f16_to_f32(x[i]);
}

void flm_f16_quantize_ref(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; ++i) y[i] = flm_f32_to_f16(x[i]);
}

void flm_f16_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(flm_f16_to_f32(x[i]) * flm_f16_to_f32(y[i]));
    *s = (float)sum;
}

// ---------------------------------------------------------------- BF16

void flm_bf16_dequantize_ref(const void *vx, float *y, int64_t k) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < k; ++i) y[i] = flm_bf16_to_f32(x[i]);
}

void flm_bf16_quantize_ref(const float *x, void *vy, int64_t k) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < k; ++i) y[i] = flm_f32_to_bf16(x[i]);
}

void flm_bf16_vec_dot_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += (double)(flm_bf16_to_f32(x[i]) * flm_bf16_to_f32(y[i]));
    *s = (float)sum;
}
