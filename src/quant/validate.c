// validate.c - finding non-finite values in rows of any type: the check
// ggml_validate_row_data makes before llama.cpp loads or writes a tensor
// (floats themselves; for block formats only their f16 scales and mins, the
// only fields that can hold an infinity or a NaN).
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/quant.h"

#include <math.h>
#include <stddef.h>

// Byte offsets of the f16 fields of one block, -1 terminated.
struct scale_fields {
    int off[3];
};

static const struct scale_fields fields[FLM_TYPE_COUNT] = {
    [FLM_TYPE_Q4_0] = {{offsetof(struct flm_block_q4_0, d), -1}},
    [FLM_TYPE_Q4_1] = {{offsetof(struct flm_block_q4_1, d), offsetof(struct flm_block_q4_1, m), -1}},
    [FLM_TYPE_Q5_0] = {{offsetof(struct flm_block_q5_0, d), -1}},
    [FLM_TYPE_Q5_1] = {{offsetof(struct flm_block_q5_1, d), offsetof(struct flm_block_q5_1, m), -1}},
    [FLM_TYPE_Q8_0] = {{offsetof(struct flm_block_q8_0, d), -1}},
    [FLM_TYPE_Q8_1] = {{offsetof(struct flm_block_q8_1, d), offsetof(struct flm_block_q8_1, s), -1}},
    [FLM_TYPE_Q2_K] = {{offsetof(struct flm_block_q2_K, d), offsetof(struct flm_block_q2_K, dmin), -1}},
    [FLM_TYPE_Q3_K] = {{offsetof(struct flm_block_q3_K, d), -1}},
    [FLM_TYPE_Q4_K] = {{offsetof(struct flm_block_q4_K, d), offsetof(struct flm_block_q4_K, dmin), -1}},
    [FLM_TYPE_Q5_K] = {{offsetof(struct flm_block_q5_K, d), offsetof(struct flm_block_q5_K, dmin), -1}},
    [FLM_TYPE_Q6_K] = {{offsetof(struct flm_block_q6_K, d), -1}},
};

static bool f16_finite(uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }

static uint16_t u16_at(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

int64_t flm_quant_find_nonfinite(enum flm_type t, const void *data, int64_t n) {
    const uint8_t *p = data;
    const struct flm_type_layout *l = flm_type_layout((uint32_t)t);
    if (!l || n <= 0) return -1;
    if (t == FLM_TYPE_F32) {
        for (int64_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            if (!isfinite(f)) return i;
        }
        return -1;
    }
    if (t == FLM_TYPE_F16 || t == FLM_TYPE_BF16) {
        const uint16_t mask = t == FLM_TYPE_F16 ? 0x7C00u : 0x7F80u;
        for (int64_t i = 0; i < n; i++)
            if ((u16_at(p + 2 * i) & mask) == mask) return i;
        return -1;
    }
    if (t == FLM_TYPE_Q8_K) {  // f32 scale first
        for (int64_t b = 0; b < n / l->blck_size; b++) {
            float d;
            memcpy(&d, p + (size_t)b * l->type_size, 4);
            if (!isfinite(d)) return b * l->blck_size;
        }
        return -1;
    }
    const struct scale_fields *f = &fields[t];
    if (f->off[0] == 0 && f->off[1] == 0) return -1;  // integer types: nothing can be non-finite
    for (int64_t b = 0; b < n / l->blck_size; b++) {
        const uint8_t *blk = p + (size_t)b * l->type_size;
        for (int k = 0; k < 3 && f->off[k] >= 0; k++)
            if (!f16_finite(u16_at(blk + f->off[k]))) return b * l->blck_size;
    }
    return -1;
}
