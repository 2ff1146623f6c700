// types.h - tensor element types. Values are the GGUF/ggml on-disk type ids,
// so they never change and only grow at the end.
#ifndef FLM_CORE_TYPES_H
#define FLM_CORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

enum flm_type {
    FLM_TYPE_F32  = 0,
    FLM_TYPE_F16  = 1,
    FLM_TYPE_Q4_0 = 2,
    FLM_TYPE_Q4_1 = 3,
    FLM_TYPE_Q5_0 = 6,
    FLM_TYPE_Q5_1 = 7,
    FLM_TYPE_Q8_0 = 8,
    FLM_TYPE_Q8_1 = 9,
    FLM_TYPE_Q2_K = 10,
    FLM_TYPE_Q3_K = 11,
    FLM_TYPE_Q4_K = 12,
    FLM_TYPE_Q5_K = 13,
    FLM_TYPE_Q6_K = 14,
    FLM_TYPE_Q8_K = 15,
    FLM_TYPE_I8   = 24,
    FLM_TYPE_I16  = 25,
    FLM_TYPE_I32  = 26,
    FLM_TYPE_I64  = 27,
    FLM_TYPE_F64  = 28,
    FLM_TYPE_BF16 = 30,
    FLM_TYPE_COUNT = 40,  // upper bound of ids we know the layout of
};

// Layout of one type: elements per block and bytes per block. Returns 0 for
// both when the id is unknown (the GGUF reader refuses such tensors).
struct flm_type_layout {
    const char *name;
    int64_t     blck_size;  // elements per block
    size_t      type_size;  // bytes per block
};

// NULL when t is not a type flashlm knows the layout of.
const struct flm_type_layout *flm_type_layout(uint32_t t);

// Bytes taken by n elements of type t; n must be a multiple of the block
// size (callers check with flm_type_layout first). Returns 0 on unknown type.
size_t flm_type_row_size(enum flm_type t, int64_t n);

#endif
