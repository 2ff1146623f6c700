// types.c - the table of on-disk tensor type layouts.
#include "core/types.h"

#define QK_K 256

static const struct flm_type_layout layouts[FLM_TYPE_COUNT] = {
    [FLM_TYPE_F32]  = {"f32", 1, 4},
    [FLM_TYPE_F16]  = {"f16", 1, 2},
    [FLM_TYPE_Q4_0] = {"q4_0", 32, 2 + 16},
    [FLM_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16},
    [FLM_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16},
    [FLM_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16},
    [FLM_TYPE_Q8_0] = {"q8_0", 32, 2 + 32},
    [FLM_TYPE_Q8_1] = {"q8_1", 32, 2 + 2 + 32},
    [FLM_TYPE_Q2_K] = {"q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2},
    [FLM_TYPE_Q3_K] = {"q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2},
    [FLM_TYPE_Q4_K] = {"q4_K", QK_K, 2 + 2 + 12 + QK_K / 2},
    [FLM_TYPE_Q5_K] = {"q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2},
    [FLM_TYPE_Q6_K] = {"q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2},
    [FLM_TYPE_Q8_K] = {"q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2},
    [FLM_TYPE_I8]   = {"i8", 1, 1},
    [FLM_TYPE_I16]  = {"i16", 1, 2},
    [FLM_TYPE_I32]  = {"i32", 1, 4},
    [FLM_TYPE_I64]  = {"i64", 1, 8},
    [FLM_TYPE_F64]  = {"f64", 1, 8},
    [FLM_TYPE_BF16] = {"bf16", 1, 2},
};

const struct flm_type_layout *flm_type_layout(uint32_t t) {
    if (t >= FLM_TYPE_COUNT || layouts[t].blck_size == 0) return NULL;
    return &layouts[t];
}

size_t flm_type_row_size(enum flm_type t, int64_t n) {
    const struct flm_type_layout *l = flm_type_layout((uint32_t)t);
    if (!l) return 0;
    return (size_t)(n / l->blck_size) * l->type_size;
}
