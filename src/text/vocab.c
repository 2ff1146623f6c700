// vocab.c - building the vocabulary, token lookup, tokenize driver and pieces.
//
// flm_vocab_init reproduces what llama.cpp's llama_vocab::load derives from
// the same metadata: token attributes (including its by-name overrides for
// end-of-turn, FIM and end-of-generation tokens), the EOG set and the cache of
// special tokens that are matched before the subword tokenizer runs.
#include "text/vocab_impl.h"

#include "text/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- hashing

static uint32_t hash_bytes(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;  // FNV-1a
    return h;
}
#define HASH_SEED 2166136261u

static uint32_t hash_pair(const char *l, size_t nl, const char *r, size_t nr) {
    uint32_t h = hash_bytes(HASH_SEED, l, nl);
    h = (h ^ 0x1FFu) * 16777619u;  // a separator no byte equals
    return hash_bytes(h, r, nr);
}

static bool table_init(struct flm_idx_table *t, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return false;
    memset(t->slots, 0xFF, cap * sizeof *t->slots);  // -1
    t->mask = (uint32_t)(cap - 1);
    return true;
}

int32_t flm_vocab_find(const struct flm_vocab *v, const char *s, size_t len) {
    if (!v || (!s && len)) return -1;
    for (uint32_t i = hash_bytes(HASH_SEED, s, len) & v->tokens.mask;; i = (i + 1) & v->tokens.mask) {
        int32_t id = v->tokens.slots[i];
        if (id < 0) return -1;
        size_t      n;
        const char *t = tok_text(v, id, &n);
        if (n == len && memcmp(t, s, len) == 0) return id;
    }
}

// Inserts id; an existing entry with the same text is replaced.
static void insert_token(struct flm_vocab *v, int32_t id) {
    size_t      len;
    const char *s = tok_text(v, id, &len);
    for (uint32_t i = hash_bytes(HASH_SEED, s, len) & v->tokens.mask;; i = (i + 1) & v->tokens.mask) {
        int32_t old = v->tokens.slots[i];
        if (old >= 0) {
            size_t      n;
            const char *t = tok_text(v, old, &n);
            if (n != len || memcmp(t, s, len) != 0) continue;
        }
        v->tokens.slots[i] = id;
        return;
    }
}

static void merge_parts(const struct flm_vocab *v, int32_t m, const char **l, size_t *nl, const char **r,
                        size_t *nr) {
    const char *s = v->merge_text + v->merge_off[m];
    uint32_t    sp = v->merge_split[m];
    *l = s, *nl = sp;
    *r = s + sp + 1, *nr = v->merge_off[m + 1] - v->merge_off[m] - sp - 1;
}

int32_t flm_vocab_merge_rank(const struct flm_vocab *v, const char *l, size_t nl, const char *r, size_t nr) {
    if (v->n_merges == 0) return -1;
    for (uint32_t i = hash_pair(l, nl, r, nr) & v->merges.mask;; i = (i + 1) & v->merges.mask) {
        int32_t m = v->merges.slots[i];
        if (m < 0) return -1;
        const char *ml, *mr;
        size_t      mnl, mnr;
        merge_parts(v, m, &ml, &mnl, &mr, &mnr);
        if (mnl == nl && mnr == nr && memcmp(ml, l, nl) == 0 && memcmp(mr, r, nr) == 0) return m;
    }
}

// Inserts merge m unless an earlier merge has the same pair.
static void insert_merge(struct flm_vocab *v, int32_t m) {
    const char *l, *r;
    size_t      nl, nr;
    merge_parts(v, m, &l, &nl, &r, &nr);
    if (flm_vocab_merge_rank(v, l, nl, r, nr) >= 0) return;
    uint32_t i = hash_pair(l, nl, r, nr) & v->merges.mask;
    while (v->merges.slots[i] >= 0) i = (i + 1) & v->merges.mask;
    v->merges.slots[i] = m;
}

// ---------------------------------------------------------------- building

void flm_vocab_free(struct flm_vocab *v) {
    if (!v) return;
    free(v->text);
    free(v->text_off);
    free(v->scores);
    free(v->attr);
    free(v->eog);
    free(v->tokens.slots);
    free(v->merge_text);
    free(v->merge_off);
    free(v->merge_split);
    free(v->merges.slots);
    free(v->special);
    free(v->special_rank);
    free(v);
}

static uint16_t attr_of_type(int32_t type) {
    switch (type) {
    case FLM_TOKEN_NORMAL:       return ATTR_NORMAL;
    case FLM_TOKEN_UNKNOWN:      return ATTR_UNKNOWN;
    case FLM_TOKEN_CONTROL:      return ATTR_CONTROL;
    case FLM_TOKEN_USER_DEFINED: return ATTR_USER_DEFINED;
    case FLM_TOKEN_UNUSED:       return ATTR_UNUSED;
    case FLM_TOKEN_BYTE:         return ATTR_BYTE;
    default:                     return 0;  // undefined: renders as nothing
    }
}

static flm_status copy_tokens(struct flm_vocab *v, const struct flm_vocab_spec *spec, struct flm_err *err) {
    int32_t n = spec->n_tokens;
    size_t  total = 0;
    char    empty[32];
    for (int32_t i = 0; i < n; i++) {
        if (!spec->tokens[i] && spec->token_lens[i])
            return flm_err_set(err, FLM_ERR_INVALID, "vocab: token %d has no text", i);
        total += spec->token_lens[i] ? spec->token_lens[i] : (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", i);
        if (total > UINT32_MAX - 64)
            return flm_err_set(err, FLM_ERR_INVALID, "vocab: token texts exceed 4 GiB at token %d", i);
    }
    v->text = malloc(total ? total : 1);
    v->text_off = malloc(((size_t)n + 1) * sizeof *v->text_off);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->attr = malloc((size_t)n * sizeof *v->attr);
    v->eog = calloc((size_t)n, 1);
    v->special_rank = malloc((size_t)n * sizeof *v->special_rank);
    if (!v->text || !v->text_off || !v->scores || !v->attr || !v->eog || !v->special_rank ||
        !table_init(&v->tokens, (size_t)n))
        return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory for %d tokens", n);
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        v->text_off[i] = off;
        if (spec->token_lens[i]) {
            memcpy(v->text + off, spec->tokens[i], spec->token_lens[i]);
            off += (uint32_t)spec->token_lens[i];
        } else {  // llama.cpp renames empty tokens so that each text stays unique
            int k = snprintf(empty, sizeof empty, "[EMPTY_%d]", i);
            memcpy(v->text + off, empty, (size_t)k);
            off += (uint32_t)k;
        }
        v->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        v->attr[i] = spec->types ? attr_of_type(spec->types[i]) : ATTR_NORMAL;
        v->special_rank[i] = -1;
    }
    v->text_off[n] = off;
    for (int32_t i = 0; i < n; i++) insert_token(v, i);
    return FLM_OK;
}

static flm_status copy_merges(struct flm_vocab *v, const struct flm_vocab_spec *spec, struct flm_err *err) {
    int32_t n = spec->n_merges;
    if (n <= 0) return FLM_OK;
    if (!spec->merges || !spec->merge_lens) return flm_err_set(err, FLM_ERR_INVALID, "vocab: merges missing");
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!spec->merges[i] && spec->merge_lens[i])
            return flm_err_set(err, FLM_ERR_INVALID, "vocab: merge %d has no text", i);
        total += spec->merge_lens[i];
        if (total > UINT32_MAX - 64)
            return flm_err_set(err, FLM_ERR_INVALID, "vocab: merge texts exceed 4 GiB at merge %d", i);
    }
    v->merge_text = malloc(total ? total : 1);
    v->merge_off = malloc(((size_t)n + 1) * sizeof *v->merge_off);
    v->merge_split = malloc((size_t)n * sizeof *v->merge_split);
    if (!v->merge_text || !v->merge_off || !v->merge_split || !table_init(&v->merges, (size_t)n))
        return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory for %d merges", n);
    v->n_merges = n;
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t len = spec->merge_lens[i];
        if (len) memcpy(v->merge_text + off, spec->merges[i], len);
        v->merge_off[i] = off;
        const char *sp = len > 1 ? memchr(spec->merges[i] + 1, ' ', len - 1) : NULL;
        v->merge_split[i] = sp ? (uint32_t)(sp - spec->merges[i]) : 0;
        off += (uint32_t)len;
    }
    v->merge_off[n] = off;
    for (int32_t i = 0; i < n; i++)
        if (v->merge_split[i]) insert_merge(v, i);  // without a space llama.cpp keeps an unmatchable pair
    return FLM_OK;
}

// ---------------------------------------------------------------- llama.cpp's by-name rules

static int32_t find_str(const struct flm_vocab *v, const char *s) {
    return flm_vocab_find(v, s, strlen(s));
}

// Lowest id among the texts present (llama.cpp takes whichever its hash map yields first).
static int32_t find_any(const struct flm_vocab *v, const char *const *names) {
    int32_t best = -1;
    for (; *names; names++) {
        int32_t id = find_str(v, *names);
        if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    return best;
}

static const char *const eot_names[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "<end_of_utterance>", NULL};
static const char *const fim_pre_names[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>",
                                            "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_names[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>",
                                            "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_names[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                                            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>",
                                            "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_names[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_names[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_names[] = {"<|file_sep|>", NULL};
static const char *const eog_names[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL};
static const char *const always_rendered_names[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};

static int32_t mark_control(struct flm_vocab *v, int32_t id) {
    if (id >= 0) v->attr[id] |= ATTR_CONTROL;
    return id;
}

static bool eog_has(const struct flm_vocab *v, const char *s) {
    int32_t id = find_str(v, s);
    return id >= 0 && v->eog[id];
}

static void apply_name_rules(struct flm_vocab *v) {
    if (v->eot < 0) v->eot = mark_control(v, find_any(v, eot_names));
    int32_t eom = mark_control(v, find_str(v, "<|eom_id|>"));
    mark_control(v, find_any(v, fim_pre_names));
    mark_control(v, find_any(v, fim_suf_names));
    mark_control(v, find_any(v, fim_mid_names));
    int32_t fim_ids[3] = {mark_control(v, find_any(v, fim_pad_names)), mark_control(v, find_any(v, fim_rep_names)),
                          mark_control(v, find_any(v, fim_sep_names))};
    for (int32_t i = 0; i < v->n_tokens; i++) {  // control tokens named "unused"
        size_t      n;
        const char *s = tok_text(v, i, &n);
        if ((v->attr[i] & ATTR_CONTROL) && memmem(s, n, "unused", 6)) v->attr[i] |= ATTR_UNUSED;
    }
    for (int k = 0; k < 3; k++)
        if (fim_ids[k] >= 0) v->eog[fim_ids[k]] = 1;
    for (const char *const *s = eog_names; *s; s++) {
        int32_t id = mark_control(v, find_str(v, *s));
        if (id >= 0) v->eog[id] = 1;
    }
    for (const char *const *s = always_rendered_names; *s; s++) {
        int32_t id = find_str(v, *s);
        if (id >= 0) v->attr[id] = ATTR_USER_DEFINED;
    }
    int32_t ends[3] = {v->eos, v->eot, eom};
    for (int k = 0; k < 3; k++)
        if (ends[k] >= 0) v->eog[ends[k]] = 1;
    // Harmony-style vocabularies: "<|end|>" ends a message, not the generation.
    bool has_call = eog_has(v, "<|call|>") || eog_has(v, "<|calls|>");
    if (eog_has(v, "<|end|>") && has_call && (eog_has(v, "<|return|>") || eog_has(v, "<|flush|>"))) {
        int32_t id = find_str(v, "<|end|>");
        v->eog[id] = 0;
        v->attr[id] = ATTR_USER_DEFINED;
    }
    // Where "</s>" is a plain token next to another end marker.
    if (eog_has(v, "</s>") && (eog_has(v, "<|tool_response>") || eog_has(v, "<|plamo:eos|>"))) {
        int32_t id = find_str(v, "</s>");
        v->eog[id] = 0;
        v->attr[id] = ATTR_NORMAL;
    }
}

// ---------------------------------------------------------------- special tokens and bytes

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static flm_status build_specials(struct flm_vocab *v, struct flm_err *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) n++;
    // Longest first (llama.cpp's order; its sort leaves ties unspecified, ids break them here).
    uint64_t *keys = malloc(((size_t)n + 1) * sizeof *keys);
    v->special = malloc(((size_t)n + 1) * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory for %d special tokens", n);
    }
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (!(v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))) continue;
        uint64_t len = v->text_off[i + 1] - v->text_off[i];
        keys[n++] = ((UINT32_MAX - len) << 32) | (uint32_t)i;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_u64);
    for (int32_t k = 0; k < n; k++) v->special[k] = (int32_t)(uint32_t)keys[k];
    free(keys);
    v->n_special = n;
    for (int32_t k = 0; k < n; k++) {
        int32_t     id = v->special[k];
        size_t      len;
        const char *s = tok_text(v, id, &len);
        v->special_rank[id] = k;
        uint8_t b = (uint8_t)s[0];
        if (len <= 64) v->special_lens[b] |= 1ull << (len - 1);
        else v->special_long[b] = true;
    }
    return FLM_OK;
}

static void build_byte_tokens(struct flm_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (v->kind == FLM_VOCAB_SPM) {
            char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
            int32_t id = flm_vocab_find(v, name, sizeof name);
            v->byte_token[b] = id >= 0 ? id : flm_vocab_find(v, &c, 1);
        } else {
            v->byte_token[b] = flm_vocab_find(v, &c, 1);
        }
    }
}

static int32_t checked_id(int32_t id, int32_t n_tokens) {
    return id >= 0 && id < n_tokens ? id : -1;
}

flm_status flm_vocab_init(struct flm_vocab **out, const struct flm_vocab_spec *spec, struct flm_err *err) {
    if (!out || !spec) return flm_err_set(err, FLM_ERR_INVALID, "vocab: init without output or spec");
    *out = NULL;
    if (spec->kind != FLM_VOCAB_BPE && spec->kind != FLM_VOCAB_SPM)
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "vocab: unknown tokenizer kind %d", (int)spec->kind);
    if (spec->n_tokens <= 0 || !spec->tokens || !spec->token_lens)
        return flm_err_set(err, FLM_ERR_INVALID, "vocab: no tokens (n_tokens %d)", spec->n_tokens);
    struct flm_vocab *v = calloc(1, sizeof *v);
    if (!v) return flm_err_set(err, FLM_ERR_NOMEM, "vocab: out of memory");
    v->kind = spec->kind;
    v->n_tokens = spec->n_tokens;
    if (spec->kind == FLM_VOCAB_BPE && !flm_pretok_lookup(spec->pre, &v->pre)) {
        flm_vocab_free(v);
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "vocab: unknown pre-tokenizer '%s'", spec->pre);
    }
    flm_status st = copy_tokens(v, spec, err);
    if (st == FLM_OK && spec->kind == FLM_VOCAB_BPE) st = copy_merges(v, spec, err);
    if (st != FLM_OK) {
        flm_vocab_free(v);
        return st;
    }
    v->bos = checked_id(spec->bos, v->n_tokens);
    v->eos = checked_id(spec->eos, v->n_tokens);
    v->eot = checked_id(spec->eot, v->n_tokens);
    v->unk = checked_id(spec->unk, v->n_tokens);
    v->pad = checked_id(spec->pad, v->n_tokens);
    v->add_bos = spec->add_bos && v->bos >= 0;
    v->add_eos = spec->add_eos && v->eos >= 0;
    v->add_space_prefix = spec->add_space_prefix;
    apply_name_rules(v);
    st = build_specials(v, err);
    if (st != FLM_OK) {
        flm_vocab_free(v);
        return st;
    }
    build_byte_tokens(v);
    *out = v;
    return FLM_OK;
}

// ---------------------------------------------------------------- getters

int32_t flm_vocab_n_tokens(const struct flm_vocab *v) { return v ? v->n_tokens : 0; }
int32_t flm_vocab_bos(const struct flm_vocab *v) { return v ? v->bos : -1; }
int32_t flm_vocab_eos(const struct flm_vocab *v) { return v ? v->eos : -1; }
int32_t flm_vocab_eot(const struct flm_vocab *v) { return v ? v->eot : -1; }
bool    flm_vocab_add_bos(const struct flm_vocab *v) { return v && v->add_bos; }

static bool valid_id(const struct flm_vocab *v, int32_t tok) {
    return v && tok >= 0 && tok < v->n_tokens;
}

bool flm_vocab_is_eog(const struct flm_vocab *v, int32_t tok) {
    return valid_id(v, tok) && v->eog[tok];
}

bool flm_vocab_is_control(const struct flm_vocab *v, int32_t tok) {
    return valid_id(v, tok) && (v->attr[tok] & ATTR_CONTROL);
}

uint32_t flm_vocab_attr(const struct flm_vocab *v, int32_t tok) {
    return valid_id(v, tok) ? v->attr[tok] : 0;
}

const char *flm_vocab_text(const struct flm_vocab *v, int32_t tok, size_t *len) {
    if (!valid_id(v, tok)) {
        if (len) *len = 0;
        return NULL;
    }
    size_t      n;
    const char *s = tok_text(v, tok, &n);
    if (len) *len = n;
    return s;
}

// ---------------------------------------------------------------- tokenize

void flm_vocab_tok_push(struct flm_tok_list *l, int32_t id) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t   cap = l->cap ? 2 * l->cap : 64;
        int32_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) {
            l->oom = true;
            return;
        }
        l->ids = ids, l->cap = cap;
    }
    l->ids[l->n++] = id;
}

// llama.cpp's SPM driver: a space prefix for text right after the start or a special token.
static flm_status tokenize_spm(const struct flm_vocab *v, const char *text, const struct flm_frag_list *frags,
                               struct flm_tok_list *out) {
    bool  prev_special = true;
    char *buf = NULL;
    size_t cap = 0;
    flm_status st = FLM_OK;
    for (int32_t i = frags->n ? 0 : -1; i >= 0 && st == FLM_OK; i = frags->f[i].next) {
        const struct flm_frag *f = &frags->f[i];
        if (f->tok >= 0) {
            flm_vocab_tok_push(out, f->tok);
            prev_special = true;
            continue;
        }
        size_t pre = (v->add_space_prefix && prev_special) ? 1 : 0;
        if (f->len + pre > cap) {
            cap = f->len + pre;
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = FLM_ERR_NOMEM;
                break;
            }
            buf = nb;
        }
        if (pre) buf[0] = ' ';
        memcpy(buf + pre, text + f->off, f->len);
        st = flm_vocab_spm(v, buf, f->len + pre, out);
        prev_special = false;
    }
    free(buf);
    return st;
}

flm_status flm_vocab_tokenize(const struct flm_vocab *v, const char *text, size_t len, bool add_special,
                              bool parse_special, int32_t *out, int32_t n_max, int32_t *n_out,
                              struct flm_err *err) {
    if (n_out) *n_out = 0;
    if (!v || (!text && len) || n_max < 0 || (!out && n_max > 0))
        return flm_err_set(err, FLM_ERR_INVALID, "vocab: tokenize with invalid arguments");
    struct flm_frag_list frags = {0};
    struct flm_tok_list  toks = {0};
    flm_status           st = flm_vocab_partition(v, text, len, parse_special, &frags);
    if (st == FLM_OK && add_special && v->add_bos) flm_vocab_tok_push(&toks, v->bos);
    if (st == FLM_OK && v->kind == FLM_VOCAB_SPM) {
        st = tokenize_spm(v, text, &frags, &toks);
    } else if (st == FLM_OK) {
        for (int32_t i = frags.n ? 0 : -1; i >= 0 && st == FLM_OK; i = frags.f[i].next) {
            const struct flm_frag *f = &frags.f[i];
            if (f->tok >= 0) flm_vocab_tok_push(&toks, f->tok);
            else st = flm_vocab_bpe(v, text + f->off, f->len, &toks);
        }
    }
    if (st == FLM_OK && add_special && v->add_eos) flm_vocab_tok_push(&toks, v->eos);
    free(frags.f);
    if (st == FLM_OK && toks.oom) st = FLM_ERR_NOMEM;
    if (st == FLM_OK && toks.n > INT32_MAX) st = FLM_ERR_INVALID;
    if (st != FLM_OK) {
        free(toks.ids);
        return flm_err_set(err, st, "vocab: tokenizing %zu bytes failed (%s)", len, flm_status_str(st));
    }
    size_t n_copy = toks.n < (size_t)n_max ? toks.n : (size_t)n_max;
    if (n_copy) memcpy(out, toks.ids, n_copy * sizeof *out);
    free(toks.ids);
    if (n_out) *n_out = (int32_t)toks.n;
    if (toks.n > (size_t)n_max)
        return flm_err_set(err, FLM_ERR_INVALID, "vocab: text needs %zu tokens, room for %d", toks.n, n_max);
    return FLM_OK;
}

// ---------------------------------------------------------------- pieces

// Writes what fits of s at position *k of buf and counts all of it (saturating,
// so a huge piece costs no more than the bytes that fit).
static void put_bytes(char *buf, int32_t n, int32_t *k, const char *s, size_t len) {
    if (*k < n) {
        size_t room = (size_t)(n - *k);
        memcpy(buf + *k, s, len < room ? len : room);
    }
    *k = (size_t)(INT32_MAX - *k) < len ? INT32_MAX : *k + (int32_t)len;
}

static void put(char *buf, int32_t n, int32_t *k, char c) {
    put_bytes(buf, n, k, &c, 1);
}

// Byte-level BPE: each code point of the token stands for one byte.
static void put_bpe_text(char *buf, int32_t n, int32_t *k, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    for (size_t pos = 0; pos < len;) {
        uint32_t cp = flm_unicode_decode(s, len, &pos);
        int      b = flm_bpe_cp_to_byte(cp);
        if (b >= 0) {
            put(buf, n, k, (char)b);
            continue;
        }
        // Not a byte: llama.cpp writes "[UNK_BYTE_0x<utf-8 hex><token text>]".
        char u[4];
        int  nu = flm_unicode_encode(cp, u);
        put_bytes(buf, n, k, "[UNK_BYTE_0x", 12);
        for (int j = 0; j < nu; j++) {
            put(buf, n, k, hex[(uint8_t)u[j] >> 4]);
            put(buf, n, k, hex[(uint8_t)u[j] & 15]);
        }
        put_bytes(buf, n, k, s, len);
        put(buf, n, k, ']');
    }
}

// SentencePiece: U+2581 stands for a space.
static void put_spm_text(char *buf, int32_t n, int32_t *k, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            put(buf, n, k, ' ');
            i += 2;
        } else {
            put(buf, n, k, s[i]);
        }
    }
}

// <0xXX>: the two characters after "<0x" read as hex, as strtol would.
static char byte_of_token(const char *s, size_t len) {
    int val = 0;
    for (size_t i = 3; i < 5 && i < len; i++) {
        char c = s[i];
        int  d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        val = val * 16 + d;
    }
    return (char)val;
}

int32_t flm_vocab_piece(const struct flm_vocab *v, int32_t tok, char *buf, int32_t n, bool special) {
    if (!valid_id(v, tok)) return 0;
    if (!buf || n < 0) n = 0;
    uint16_t a = v->attr[tok];
    if (!special && (a & (ATTR_UNKNOWN | ATTR_CONTROL))) return 0;
    size_t      len;
    const char *s = tok_text(v, tok, &len);
    int32_t     k = 0;
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) put_bytes(buf, n, &k, s, len);
    else if ((a & ATTR_NORMAL) && v->kind == FLM_VOCAB_BPE) put_bpe_text(buf, n, &k, s, len);
    else if (a & ATTR_NORMAL) put_spm_text(buf, n, &k, s, len);
    else if (a & ATTR_BYTE) put(buf, n, &k, byte_of_token(s, len));
    return k <= n ? k : -k;
}
