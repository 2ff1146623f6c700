// traits.c - the table that ties each tensor type to its oracle functions
// and to the type its activations are quantized to for dot products.
#include "quant/quant.h"

#define TRAITS(T, f, dot, vdt)                                                                    \
    [FLM_TYPE_##T] = {.type = FLM_TYPE_##T, .to_float = flm_##f##_dequantize_ref,                 \
                      .from_float = flm_##f##_quantize_ref, .vec_dot = dot, .vec_dot_type = FLM_TYPE_##vdt}

static const struct flm_type_traits traits[FLM_TYPE_COUNT] = {
    TRAITS(F32, f32, flm_f32_vec_dot_ref, F32),
    TRAITS(F16, f16, flm_f16_vec_dot_ref, F16),
    TRAITS(BF16, bf16, flm_bf16_vec_dot_ref, BF16),
    TRAITS(Q4_0, q4_0, flm_q4_0_vec_dot_ref, Q8_0),
    TRAITS(Q4_1, q4_1, flm_q4_1_vec_dot_ref, Q8_1),
    TRAITS(Q5_0, q5_0, flm_q5_0_vec_dot_ref, Q8_0),
    TRAITS(Q5_1, q5_1, flm_q5_1_vec_dot_ref, Q8_1),
    TRAITS(Q8_0, q8_0, flm_q8_0_vec_dot_ref, Q8_0),
    TRAITS(Q8_1, q8_1, NULL, Q8_1),  // activations only
    TRAITS(Q2_K, q2_K, flm_q2_K_vec_dot_ref, Q8_K),
    TRAITS(Q3_K, q3_K, flm_q3_K_vec_dot_ref, Q8_K),
    TRAITS(Q4_K, q4_K, flm_q4_K_vec_dot_ref, Q8_K),
    TRAITS(Q5_K, q5_K, flm_q5_K_vec_dot_ref, Q8_K),
    TRAITS(Q6_K, q6_K, flm_q6_K_vec_dot_ref, Q8_K),
    TRAITS(Q8_K, q8_K, NULL, Q8_K),  // activations only
};

const struct flm_type_traits *flm_quant_traits(enum flm_type t) {
    if ((unsigned)t >= FLM_TYPE_COUNT || traits[t].to_float == NULL) return NULL;
    return &traits[t];
}

// llama.cpp's x86 build quantizes Q8_0/Q8_1 activations with its AVX path,
// which rounds differently from its portable reference (see q8_0.c); its
// AArch64 build with its NEON path (multiplier 1/d, halves to even); other
// architectures get the portable quantizer.
flm_from_float_fn flm_quant_act_from_float(enum flm_type t) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    if (!tr) return NULL;
#if defined(__x86_64__) || defined(_M_X64)
    if (t == FLM_TYPE_Q8_0) return flm_q8_0_quantize_x86_ref;
    if (t == FLM_TYPE_Q8_1) return flm_q8_1_quantize_x86_ref;
#elif defined(__aarch64__)
    if (t == FLM_TYPE_Q8_0) return flm_q8_0_quantize_arm_ref;
    if (t == FLM_TYPE_Q8_1) return flm_q8_1_quantize_arm_ref;
#endif
    return tr->from_float;
}
