// quant_mix.h - which type each tensor gets when a model is quantized to one
// of llama.cpp's file types ("Q4_K_M", "Q8_0", ...).
//
// These are llama.cpp's rules (llama_tensor_get_type and its helpers in
// llama.cpp's src/llama-quant.cpp, without importance matrices, overrides or
// "pure"), so flashlm writes the mix llama.cpp's quantize tool writes:
//   - only tensors of 2 or more dimensions whose names end in "weight" are
//     quantized, minus norms and a list of small or special tensors;
//   - output.weight (and token_embd.weight when the model has no
//     output.weight: tied embeddings) gets Q6_K, or Q8_0 when the file type's
//     base is Q8_0 or the row length is not a multiple of its block size;
//   - the K-quant mixes give some attn_v / ffn_down / attn_output tensors
//     more bits, by layer ("use_more_bits": the first and last eighth and
//     every third layer between), by GQA factor and by expert count;
//   - a K-quant whose 256-element block does not divide the row length falls
//     back to a 32-element type (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0,
//     Q5_K -> Q5_1, Q6_K -> Q8_0), and to F16 when 32 does not divide it
//     either; a legacy type that does not divide it is an error, as there.
// Tensors are visited in llama.cpp's order (flm_mix_name_cmp), because the
// per-layer rules count attn_v and ffn_down tensors as they are met.
#ifndef FLM_CONVERT_QUANT_MIX_H
#define FLM_CONVERT_QUANT_MIX_H

#include "core/status.h"
#include "core/types.h"

#include <stdint.h>

// llama.cpp's llama_ftype: the value written to general.file_type.
enum flm_ftype {
    FLM_FTYPE_ALL_F32 = 0,
    FLM_FTYPE_F16     = 1,
    FLM_FTYPE_Q4_0    = 2,
    FLM_FTYPE_Q4_1    = 3,
    FLM_FTYPE_Q8_0    = 7,
    FLM_FTYPE_Q5_0    = 8,
    FLM_FTYPE_Q5_1    = 9,
    FLM_FTYPE_Q2_K    = 10,
    FLM_FTYPE_Q3_K_S  = 11,
    FLM_FTYPE_Q3_K_M  = 12,
    FLM_FTYPE_Q3_K_L  = 13,
    FLM_FTYPE_Q4_K_S  = 14,
    FLM_FTYPE_Q4_K_M  = 15,
    FLM_FTYPE_Q5_K_S  = 16,
    FLM_FTYPE_Q5_K_M  = 17,
    FLM_FTYPE_Q6_K    = 18,
    FLM_FTYPE_BF16    = 32,
};

struct flm_ftype_info {
    const char    *name;   // "Q4_K_M", as llama.cpp's quantize tool names it
    enum flm_ftype ftype;
    enum flm_type  base;   // the type tensors get unless a rule says otherwise
    const char    *desc;   // one line for --help
};

// Case-insensitive lookup; NULL when flashlm does not offer the name.
const struct flm_ftype_info *flm_ftype_find(const char *name);
// The offered file types, i = 0, 1, ...; NULL past the end.
const struct flm_ftype_info *flm_ftype_at(int i);

// What the rules read from the model's metadata.
struct flm_mix_model {
    const char *arch;       // general.architecture
    int32_t     n_layer;    // <arch>.block_count
    int32_t     n_head;     // <arch>.attention.head_count (of layer 0)
    int32_t     n_head_kv;  // <arch>.attention.head_count_kv (of layer 0; n_head when absent)
    int32_t     n_expert;   // <arch>.expert_count (0 when absent)
};

struct flm_mix_tensor {
    const char   *name;
    uint32_t      n_dims;  // as ggml counts them: trailing dimensions of 1 dropped (at least 1)
    int64_t       ne[4];
    enum flm_type type;    // the input's type
};

// Output type of each of n tensors, given in flm_mix_name_cmp order.
// FLM_ERR_UNSUPPORTED (naming the tensor) when a row length fits neither the
// type nor its fallback; FLM_ERR_FORMAT when an expert model's tensor name
// has no valid layer number.
flm_status flm_mix_plan(const struct flm_mix_model *m, enum flm_ftype ftype, const struct flm_mix_tensor *t,
                        int64_t n, enum flm_type *out, struct flm_err *err);

// llama.cpp's tensor order: by the layer number of a "blk.N." prefix (-1
// without one), then by name (bytes, unsigned). strcmp-style result.
int flm_mix_name_cmp(const char *a, const char *b);

#endif
