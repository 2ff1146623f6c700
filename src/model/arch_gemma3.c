// arch_gemma3.c - Gemma 3: GeGLU, RoPE on split halves, per-head q/k norms,
// norms after attention and FFN as well as before, embeddings scaled by
// sqrt(n_embd), and five sliding-window layers (local RoPE base 10000) for
// every global one. Norm weights in GGUF already include Gemma's "+1".
#include "model/model.h"

#include <math.h>

static flm_status load_hparams(struct flm_hparams *hp, const struct flm_gguf *g, struct flm_err *err) {
    flm_status st = flm_hparams_load_common(hp, "gemma3", g, err);
    if (st != FLM_OK) return st;
    hp->rope_kind = FLM_ROPE_NEOX;
    hp->act = FLM_ACT_GELU;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->q_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->swa_pattern = 6;
    hp->rope_base_swa = 10000.0f;
    hp->rope_scale_swa = 1.0f;
    return FLM_OK;
}

const struct flm_arch flm_arch_gemma3 = {
    .name = "gemma3",
    .tensors = FLM_T_QK_NORM | FLM_T_POST_NORMS | FLM_T_OUTPUT_OPT,
    .load_hparams = load_hparams,
};
