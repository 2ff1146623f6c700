// ops.c - scalar element-wise and row operations.
#include "kernels/ops.h"

#include "core/cpu.h"
#include "core/fp16.h"

#include <math.h>

void flm_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);  // squares in float, as llama.cpp
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] *= w[i];
}

void flm_rope(float *x, int n_heads, int head_dim, int n_rot, int32_t pos, float freq_base, float freq_scale,
              enum flm_rope_kind kind) {
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        float theta = (float)pos;
        for (int i0 = 0; i0 < n_rot; i0 += 2) {
            const float t = theta * freq_scale;
            const float c = cosf(t), s = sinf(t);
            theta *= theta_scale;
            const int a = kind == FLM_ROPE_NEOX ? i0 / 2 : i0;
            const int b = kind == FLM_ROPE_NEOX ? i0 / 2 + n_rot / 2 : i0 + 1;
            const float x0 = v[a], x1 = v[b];
            // fused as llama.cpp's build fuses them (x0*c rounded once with the rest)
            v[a] = fmaf(x0, c, -(x1 * s));
            v[b] = fmaf(x0, s, x1 * c);
        }
    }
}

static float gelu_f32(float x) {
    const float c = 0.044715f, sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    // 1 + c*x*x with one rounding, as llama.cpp's build contracts it: its GELU
    // table then holds the same half values for all 65536 inputs
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * fmaf(c * x, x, 1.0f)));
}

// ggml evaluates GELU from a table indexed by the half-precision input and
// holding half-precision outputs; computing the same thing directly keeps
// the results identical without a 128 KiB table.
static float gelu_half(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float xh = flm_f16_to_f32(flm_f32_to_f16(x));
    return flm_f16_to_f32(flm_f32_to_f16(gelu_f32(xh)));
}

void flm_gelu_table_fill(uint16_t *table) {
    for (uint32_t i = 0; i < 65536; i++) table[i] = flm_f32_to_f16(gelu_f32(flm_f16_to_f32((uint16_t)i)));
}

void flm_geglu_table(float *y, const float *x, const float *g, int64_t n, const uint16_t *table) {
    for (int64_t i = 0; i < n; i++) {
        if (x[i] <= -10.0f) y[i] = 0.0f;
        else if (x[i] >= 10.0f) y[i] = x[i] * g[i];
        else y[i] = flm_f16_to_f32(table[flm_f32_to_f16(x[i])]) * g[i];
    }
}

void flm_geglu(float *y, const float *x, const float *g, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] <= -10.0f ? 0.0f : gelu_half(x[i]) * g[i];
}

float flm_expf_poly(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

float flm_hsum16(const float *a) {
    float t8[8], t4[4];
    for (int i = 0; i < 8; i++) t8[i] = a[i + 8] + a[i];
    for (int i = 0; i < 4; i++) t4[i] = t8[i + 4] + t8[i];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

// llama.cpp evaluates whole groups of 16 with the polynomial and the rest of
// a row with the C library's expf.
void flm_swiglu_ref(float *y, const float *x, const float *g, int64_t n) {
    const int64_t n16 = n - n % 16;
    for (int64_t i = 0; i < n16; i++) y[i] = x[i] / (1.0f + flm_expf_poly(0.0f - x[i])) * g[i];
    for (int64_t i = n16; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

void flm_softmax(float *x, int64_t n) {
    float max = x[0];
    for (int64_t i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void flm_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void flm_scale(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

void flm_swiglu(float *y, const float *x, const float *g, int64_t n) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX512) {
        flm_swiglu_avx512(y, x, g, n);
        return;
    }
#endif
    flm_swiglu_ref(y, x, g, n);
}
