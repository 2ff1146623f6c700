// hparams.c - the hyperparameter keys shared by decoder-only architectures,
// and the table of known architectures.
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

extern const struct flm_arch flm_arch_llama;
extern const struct flm_arch flm_arch_gemma3;
extern const struct flm_arch flm_arch_qwen2;
extern const struct flm_arch flm_arch_qwen3;

static const struct flm_arch *const arches[] = {&flm_arch_llama, &flm_arch_gemma3, &flm_arch_qwen2, &flm_arch_qwen3};

const struct flm_arch *flm_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strlen(arches[i]->name) == len && memcmp(arches[i]->name, name, len) == 0) return arches[i];
    return NULL;
}

// Writes "<arch>.<key>" into full and says whether the file has it; a
// missing required key sets *st to the error (else *st stays FLM_OK).
static bool find_key(const struct flm_gguf *g, const char *arch, const char *key, char full[128], bool required,
                     flm_status *st, struct flm_err *err) {
    snprintf(full, 128, "%s.%s", arch, key);
    *st = FLM_OK;
    if (flm_gguf_find_key(g, full) >= 0) return true;
    if (required) *st = flm_err_set(err, FLM_ERR_FORMAT, "model: required key '%s' is missing", full);
    return false;
}

// Reads "<arch>.<key>" as u32 into *out; absent keys keep *out when optional.
static flm_status get_u32(const struct flm_gguf *g, const char *arch, const char *key, int32_t *out, bool required,
                          struct flm_err *err) {
    char full[128];
    uint32_t v;
    flm_status st;
    if (!find_key(g, arch, key, full, required, &st, err) || (st = flm_gguf_get_u32(g, full, &v, err))) return st;
    if (v > (1u << 30)) return flm_err_set(err, FLM_ERR_FORMAT, "model: key '%s' = %u is out of range", full, v);
    *out = (int32_t)v;
    return FLM_OK;
}

static flm_status get_f32(const struct flm_gguf *g, const char *arch, const char *key, float *out, bool required,
                          struct flm_err *err) {
    char full[128];
    flm_status st;
    if (!find_key(g, arch, key, full, required, &st, err) || (st = flm_gguf_get_f32(g, full, out, err))) return st;
    if (!isfinite(*out)) return flm_err_set(err, FLM_ERR_FORMAT, "model: key '%s' is not finite", full);
    return FLM_OK;
}

static flm_status check_hparams(const struct flm_hparams *hp, const char *arch, struct flm_err *err) {
#define REQUIRE(cond, ...)                                                   \
    do {                                                                     \
        if (!(cond)) return flm_err_set(err, FLM_ERR_FORMAT, __VA_ARGS__);   \
    } while (0)
    REQUIRE(hp->n_layer > 0 && hp->n_layer <= 4096, "model: %s.block_count = %d is invalid", arch, hp->n_layer);
    REQUIRE(hp->n_embd > 0, "model: %s.embedding_length = %d is invalid", arch, hp->n_embd);
    REQUIRE(hp->n_ff > 0, "model: %s.feed_forward_length = %d is invalid", arch, hp->n_ff);
    REQUIRE(hp->n_head > 0, "model: %s.attention.head_count = %d: a model needs at least one head", arch, hp->n_head);
    REQUIRE(hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv == 0,
            "model: %s.attention.head_count_kv = %d must be > 0 and divide head_count = %d", arch, hp->n_head_kv,
            hp->n_head);
    REQUIRE(hp->head_dim > 0 && hp->head_dim % 2 == 0 && hp->head_dim <= 4096,
            "model: head size %d (%s.attention.key_length or embedding_length / head_count) is invalid", hp->head_dim,
            arch);
    REQUIRE(hp->head_dim_v > 0 && hp->head_dim_v <= 4096, "model: %s.attention.value_length = %d is invalid", arch,
            hp->head_dim_v);
    REQUIRE(hp->n_rot > 0 && hp->n_rot % 2 == 0 && hp->n_rot <= hp->head_dim,
            "model: %s.rope.dimension_count = %d must be even and at most the head size %d", arch, hp->n_rot,
            hp->head_dim);
    REQUIRE(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f, "model: %s.attention.layer_norm_rms_epsilon = %g is invalid",
            arch, hp->rms_eps);
    REQUIRE(hp->rope_base > 0.0f, "model: %s.rope.freq_base = %g is invalid", arch, hp->rope_base);
    REQUIRE(hp->n_ctx_train > 0, "model: %s.context_length = %d is invalid", arch, hp->n_ctx_train);
    REQUIRE(hp->n_swa >= 0, "model: %s.attention.sliding_window = %d is invalid", arch, hp->n_swa);
#undef REQUIRE
    return FLM_OK;
}

flm_status flm_hparams_load_common(struct flm_hparams *hp, const char *arch, const struct flm_gguf *g,
                                   struct flm_err *err) {
    memset(hp, 0, sizeof *hp);
    hp->rope_base = 10000.0f;
    hp->rope_scale = 1.0f;
    hp->embd_scale = 1.0f;
    hp->n_ctx_train = 2048;
    flm_status st;
    if ((st = get_u32(g, arch, "block_count", &hp->n_layer, true, err)) ||
        (st = get_u32(g, arch, "embedding_length", &hp->n_embd, true, err)) ||
        (st = get_u32(g, arch, "feed_forward_length", &hp->n_ff, true, err)) ||
        (st = get_u32(g, arch, "attention.head_count", &hp->n_head, true, err)) ||
        (st = get_u32(g, arch, "context_length", &hp->n_ctx_train, false, err)) ||
        (st = get_f32(g, arch, "attention.layer_norm_rms_epsilon", &hp->rms_eps, true, err)) ||
        (st = get_f32(g, arch, "rope.freq_base", &hp->rope_base, false, err)))
        return st;
    hp->n_head_kv = hp->n_head;
    if ((st = get_u32(g, arch, "attention.head_count_kv", &hp->n_head_kv, false, err))) return st;
    if (hp->n_head <= 0)
        return flm_err_set(err, FLM_ERR_FORMAT, "model: %s.attention.head_count = %d: a model needs at least one head",
                           arch, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = get_u32(g, arch, "attention.key_length", &hp->head_dim, false, err))) return st;
    hp->head_dim_v = hp->head_dim;
    if ((st = get_u32(g, arch, "attention.value_length", &hp->head_dim_v, false, err))) return st;
    hp->n_rot = hp->head_dim;
    if ((st = get_u32(g, arch, "rope.dimension_count", &hp->n_rot, false, err))) return st;
    if ((st = get_u32(g, arch, "attention.sliding_window", &hp->n_swa, false, err))) return st;
    float factor = 0.0f;
    if ((st = get_f32(g, arch, "rope.scaling.factor", &factor, false, err))) return st;
    if (factor > 0.0f) hp->rope_scale = 1.0f / factor;
    hp->rope_base_swa = hp->rope_base;
    hp->rope_scale_swa = hp->rope_scale;
    return check_hparams(hp, arch, err);
}
