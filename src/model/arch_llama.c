// arch_llama.c - Llama-family decoders (Llama 2/3, SmolLM2, Mistral layouts):
// RMSNorm, SwiGLU, RoPE on adjacent pairs, optional separate LM head.
#include "model/model.h"

static flm_status load_hparams(struct flm_hparams *hp, const struct flm_gguf *g, struct flm_err *err) {
    flm_status st = flm_hparams_load_common(hp, "llama", g, err);
    hp->rope_kind = FLM_ROPE_NORM;
    hp->act = FLM_ACT_SILU;
    return st;
}

const struct flm_arch flm_arch_llama = {
    .name = "llama",
    .tensors = FLM_T_OUTPUT_OPT,
    .load_hparams = load_hparams,
};
