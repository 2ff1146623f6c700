// q8_K.c - Q8_K oracle: the activation format of the K-quants. 256 elements
// per block, x = q * d with an f32 (not f16) scale, plus bsums[g], the sum of
// q over each 16-element group, which the K-quant dots multiply by the
// weight's per-group minimums.
//
// Quantized as llama.cpp does on every CPU (its x86 build has no SIMD variant
// of this one): the element of largest magnitude, with its sign, is mapped to
// -127 (iscale = -127 / max, so d = 1 / iscale is negative when that element
// is positive), levels round halves to even and are capped at 127.
#include "core/status.h"
#include "quant/blocks.h"
#include "quant/qround.h"
#include "quant/quant.h"

void flm_q8_K_dequantize_ref(const void *vx, float *y, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    const struct flm_block_q8_K *x = vx;
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, y += FLM_QK_K) {
        for (int j = 0; j < FLM_QK_K; ++j) y[j] = x[i].d * x[i].qs[j];
    }
}

void flm_q8_K_quantize_ref(const float *x, void *vy, int64_t k) {
    FLM_ASSERT(k % FLM_QK_K == 0);
    struct flm_block_q8_K *y = vy;
    for (int64_t i = 0; i < k / FLM_QK_K; ++i, x += FLM_QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < FLM_QK_K; ++j) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (!amax) {  // ggml leaves bsums untouched here; zeros are what they mean
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < FLM_QK_K; ++j) {
            const int v = flm_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
        for (int g = 0; g < FLM_QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 16 * g; j < 16 * g + 16; ++j) sum += y[i].qs[j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}
