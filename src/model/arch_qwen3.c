// arch_qwen3.c - Qwen 3 (dense): the Llama block with per-head RMS norms on q
// and k before RoPE on split halves, no biases.
#include "model/model.h"

static flm_status load_hparams(struct flm_hparams *hp, const struct flm_gguf *g, struct flm_err *err) {
    flm_status st = flm_hparams_load_common(hp, "qwen3", g, err);
    hp->rope_kind = FLM_ROPE_NEOX;
    hp->act = FLM_ACT_SILU;
    return st;
}

const struct flm_arch flm_arch_qwen3 = {
    .name = "qwen3",
    .tensors = FLM_T_QK_NORM | FLM_T_OUTPUT_OPT,
    .load_hparams = load_hparams,
};
