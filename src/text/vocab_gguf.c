// vocab_gguf.c - building a vocabulary from a GGUF file's tokenizer.ggml.* keys.
//
// Missing keys take llama.cpp's defaults: SentencePiece ("llama") vocabularies
// add BOS and a space prefix and use ids bos 1, eos 2, unk 0; byte-level BPE
// ("gpt2") ones use bos = eos = 11 and add BOS only for pre-tokenizers that
// llama.cpp defaults that way (llama3). Ids beyond the vocabulary keep the
// default, as llama.cpp does.
#include "text/vocab.h"

#include "format/gguf.h"
#include "text/pretok.h"

#include <stdlib.h>
#include <string.h>

struct arrays {
    const char **tokens;
    size_t      *token_lens;
    float       *scores;
    int32_t     *types;
    const char **merges;
    size_t      *merge_lens;
};

static void arrays_free(struct arrays *a) {
    free(a->tokens), free(a->token_lens), free(a->scores), free(a->types), free(a->merges), free(a->merge_lens);
}

static bool has_key(const struct flm_gguf *g, const char *key) {
    return flm_gguf_find_key(g, key) >= 0;
}

// A string array into pointer/length arrays (pointing into the file).
static flm_status read_strings(const struct flm_gguf *g, const char *key, const char ***strs, size_t **lens,
                               int32_t *n, struct flm_err *err) {
    int64_t  idx;
    uint64_t len;
    flm_status st = flm_gguf_get_arr(g, key, FLM_GGUF_STRING, &idx, &len, err);
    if (st != FLM_OK) return st;
    if (len > INT32_MAX) return flm_err_set(err, FLM_ERR_FORMAT, "vocab: %s has %llu entries", key, (unsigned long long)len);
    *strs = malloc((len ? len : 1) * sizeof **strs);
    *lens = malloc((len ? len : 1) * sizeof **lens);
    if (!*strs || !*lens) return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory reading %s", key);
    for (uint64_t j = 0; j < len; j++) {
        struct flm_gguf_str s = flm_gguf_arr_str(g, idx, j);
        (*strs)[j] = s.ptr;
        (*lens)[j] = (size_t)s.len;
    }
    *n = (int32_t)len;
    return FLM_OK;
}

// An optional numeric array of at least n elements, copied (file data may be unaligned).
static flm_status read_numbers(const struct flm_gguf *g, const char *key, enum flm_gguf_vtype elem, int32_t n,
                               void **out, struct flm_err *err) {
    *out = NULL;
    if (!has_key(g, key)) return FLM_OK;
    int64_t  idx;
    uint64_t len;
    flm_status st = flm_gguf_get_arr(g, key, elem, &idx, &len, err);
    if (st != FLM_OK) return st;
    if (len < (uint64_t)n)
        return flm_err_set(err, FLM_ERR_FORMAT, "vocab: %s has %llu entries for %d tokens", key,
                           (unsigned long long)len, n);
    *out = malloc((size_t)n * 4 + 1);
    if (!*out) return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory reading %s", key);
    memcpy(*out, flm_gguf_arr_data(g, idx), (size_t)n * 4);
    return FLM_OK;
}

// Scores are f32; llama.cpp also takes i32 ones.
static flm_status read_scores(const struct flm_gguf *g, int32_t n, float **out, struct flm_err *err) {
    const char *key = "tokenizer.ggml.scores";
    int64_t     ki = flm_gguf_find_key(g, key);
    if (ki < 0 || flm_gguf_kv_type(g, ki) != FLM_GGUF_ARRAY || flm_gguf_arr_type(g, ki) != FLM_GGUF_INT32)
        return read_numbers(g, key, FLM_GGUF_FLOAT32, n, (void **)out, err);
    int32_t   *iscores = NULL;
    flm_status st = read_numbers(g, key, FLM_GGUF_INT32, n, (void **)&iscores, err);
    if (st != FLM_OK) return st;
    *out = malloc((size_t)n * sizeof **out + 1);
    if (*out)
        for (int32_t i = 0; i < n; i++) (*out)[i] = (float)iscores[i];
    free(iscores);
    return *out ? FLM_OK : flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory reading %s", key);
}

static flm_status read_bool(const struct flm_gguf *g, const char *key, bool *v, struct flm_err *err) {
    return has_key(g, key) ? flm_gguf_get_bool(g, key, v, err) : FLM_OK;
}

// An optional token id; values beyond the vocabulary leave the default.
static flm_status read_id(const struct flm_gguf *g, const char *key, int32_t n_tokens, int32_t *id,
                          struct flm_err *err) {
    if (!has_key(g, key)) return FLM_OK;
    uint32_t v;
    flm_status st = flm_gguf_get_u32(g, key, &v, err);
    if (st == FLM_OK && v < (uint32_t)n_tokens) *id = (int32_t)v;
    return st;
}

static flm_status read_spec(const struct flm_gguf *g, struct flm_vocab_spec *s, struct arrays *a, char *pre,
                            size_t pre_cap, struct flm_err *err) {
    struct flm_gguf_str model;
    flm_status st = flm_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (st != FLM_OK) return st;
    if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) s->kind = FLM_VOCAB_BPE;
    else if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) s->kind = FLM_VOCAB_SPM;
    else
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "vocab: tokenizer.ggml.model '%.*s' not supported",
                           (int)(model.len < 64 ? model.len : 64), model.ptr);
    struct flm_pretok_info info = {0};
    pre[0] = '\0';
    if (s->kind == FLM_VOCAB_BPE && has_key(g, "tokenizer.ggml.pre")) {
        struct flm_gguf_str p;
        if ((st = flm_gguf_get_str(g, "tokenizer.ggml.pre", &p, err)) != FLM_OK) return st;
        if (p.len >= pre_cap || memchr(p.ptr, '\0', p.len))
            return flm_err_set(err, FLM_ERR_UNSUPPORTED, "vocab: tokenizer.ggml.pre of %llu bytes not supported",
                               (unsigned long long)p.len);
        memcpy(pre, p.ptr, p.len);
        pre[p.len] = '\0';
    }
    if (s->kind == FLM_VOCAB_BPE && !flm_pretok_lookup(pre, &info))
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "vocab: pre-tokenizer '%s' not supported", pre);
    s->pre = pre;

    if ((st = read_strings(g, "tokenizer.ggml.tokens", &a->tokens, &a->token_lens, &s->n_tokens, err)) != FLM_OK)
        return st;
    s->tokens = a->tokens, s->token_lens = a->token_lens;
    if ((st = read_scores(g, s->n_tokens, &a->scores, err)) ||
        (st = read_numbers(g, "tokenizer.ggml.token_type", FLM_GGUF_INT32, s->n_tokens, (void **)&a->types, err)))
        return st;
    s->scores = a->scores, s->types = a->types;
    if (s->kind == FLM_VOCAB_BPE) {
        st = read_strings(g, "tokenizer.ggml.merges", &a->merges, &a->merge_lens, &s->n_merges, err);
        if (st != FLM_OK) return st;
        s->merges = a->merges, s->merge_lens = a->merge_lens;
    }

    bool spm = s->kind == FLM_VOCAB_SPM;
    s->bos = spm ? 1 : 11, s->eos = spm ? 2 : 11, s->unk = spm ? 0 : -1, s->eot = -1, s->pad = -1;
    s->add_bos = spm || info.add_bos, s->add_eos = false, s->add_space_prefix = spm;
    if ((st = read_id(g, "tokenizer.ggml.bos_token_id", s->n_tokens, &s->bos, err)) ||
        (st = read_id(g, "tokenizer.ggml.eos_token_id", s->n_tokens, &s->eos, err)) ||
        (st = read_id(g, "tokenizer.ggml.eot_token_id", s->n_tokens, &s->eot, err)) ||
        (st = read_id(g, "tokenizer.ggml.unknown_token_id", s->n_tokens, &s->unk, err)) ||
        (st = read_id(g, "tokenizer.ggml.padding_token_id", s->n_tokens, &s->pad, err)) ||
        (st = read_bool(g, "tokenizer.ggml.add_bos_token", &s->add_bos, err)) ||
        (st = read_bool(g, "tokenizer.ggml.add_eos_token", &s->add_eos, err)) ||
        (st = read_bool(g, "tokenizer.ggml.add_space_prefix", &s->add_space_prefix, err)))
        return st;
    return FLM_OK;
}

flm_status flm_vocab_load(struct flm_vocab **out, const struct flm_gguf *g, struct flm_err *err) {
    if (!out || !g) return flm_err_set(err, FLM_ERR_INVALID, "vocab: load without output or file");
    *out = NULL;
    struct flm_vocab_spec spec = {0};
    struct arrays         a = {0};
    char                  pre[128];
    flm_status            st = read_spec(g, &spec, &a, pre, sizeof pre, err);
    if (st == FLM_OK) st = flm_vocab_init(out, &spec, err);
    arrays_free(&a);
    return st;
}
