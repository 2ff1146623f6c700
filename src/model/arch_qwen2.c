// arch_qwen2.c - Qwen 2 / 2.5: the Llama block with biases on q, k and v and
// RoPE on split halves.
#include "model/model.h"

static flm_status load_hparams(struct flm_hparams *hp, const struct flm_gguf *g, struct flm_err *err) {
    flm_status st = flm_hparams_load_common(hp, "qwen2", g, err);
    hp->rope_kind = FLM_ROPE_NEOX;
    hp->act = FLM_ACT_SILU;
    return st;
}

const struct flm_arch flm_arch_qwen2 = {
    .name = "qwen2",
    .tensors = FLM_T_QKV_BIAS | FLM_T_OUTPUT_OPT,
    .load_hparams = load_hparams,
};
