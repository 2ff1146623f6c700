// quant_mix.c - llama.cpp's choice of a type per tensor for each file type
// (see quant_mix.h). Written from the rules of llama.cpp's
// src/llama-quant.cpp; the branches keep its order, because the counters of
// attn_v and ffn_down tensors advance only where it advances them.
#include "convert/quant_mix.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---------------------------------------------------------------- file types

static const struct flm_ftype_info ftypes[] = {
    {"Q4_0", FLM_FTYPE_Q4_0, FLM_TYPE_Q4_0, "4.5 bits/weight: 32-element blocks, one scale"},
    {"Q4_1", FLM_FTYPE_Q4_1, FLM_TYPE_Q4_1, "5.0 bits/weight: 32-element blocks, scale and minimum"},
    {"Q5_0", FLM_FTYPE_Q5_0, FLM_TYPE_Q5_0, "5.5 bits/weight: 32-element blocks, one scale"},
    {"Q5_1", FLM_FTYPE_Q5_1, FLM_TYPE_Q5_1, "6.0 bits/weight: 32-element blocks, scale and minimum"},
    {"Q8_0", FLM_FTYPE_Q8_0, FLM_TYPE_Q8_0, "8.5 bits/weight: 32-element blocks, one scale (output Q8_0 too)"},
    {"Q2_K", FLM_FTYPE_Q2_K, FLM_TYPE_Q2_K, "Q2_K; attn_v Q3_K (Q4_K with GQA >= 4), ffn_down, attn_output Q3_K"},
    {"Q3_K_S", FLM_FTYPE_Q3_K_S, FLM_TYPE_Q3_K, "Q3_K"},
    {"Q3_K_M", FLM_FTYPE_Q3_K_M, FLM_TYPE_Q3_K, "Q3_K; attn_v, ffn_down Q5_K early, else Q4_K; attn_output Q4_K"},
    {"Q3_K_L", FLM_FTYPE_Q3_K_L, FLM_TYPE_Q3_K, "Q3_K; attn_v, ffn_down, attn_output Q5_K"},
    {"Q4_K_S", FLM_FTYPE_Q4_K_S, FLM_TYPE_Q4_K, "Q4_K; attn_v of the first 4 and ffn_down of the first 1/8 layers Q5_K"},
    {"Q4_K_M", FLM_FTYPE_Q4_K_M, FLM_TYPE_Q4_K, "Q4_K; attn_v and ffn_down Q6_K in about half the layers"},
    {"Q5_K_S", FLM_FTYPE_Q5_K_S, FLM_TYPE_Q5_K, "Q5_K"},
    {"Q5_K_M", FLM_FTYPE_Q5_K_M, FLM_TYPE_Q5_K, "Q5_K; attn_v and ffn_down Q6_K in about half the layers"},
    {"Q6_K", FLM_FTYPE_Q6_K, FLM_TYPE_Q6_K, "Q6_K"},
    {"F16", FLM_FTYPE_F16, FLM_TYPE_F16, "IEEE half floats (norms and 1-D tensors keep their type)"},
    {"BF16", FLM_FTYPE_BF16, FLM_TYPE_BF16, "bfloat16 (norms and 1-D tensors keep their type)"},
    {"F32", FLM_FTYPE_ALL_F32, FLM_TYPE_F32, "32-bit floats"},
};
#define N_FTYPES ((int)(sizeof ftypes / sizeof ftypes[0]))

// Names llama.cpp's quantize tool also accepts for a mix.
static const struct {
    const char *alias, *name;
} aliases[] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};

const struct flm_ftype_info *flm_ftype_at(int i) { return i >= 0 && i < N_FTYPES ? &ftypes[i] : NULL; }

const struct flm_ftype_info *flm_ftype_find(const char *name) {
    if (!name) return NULL;
    for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
        if (!strcasecmp(name, aliases[k].alias)) name = aliases[k].name;
    for (int i = 0; i < N_FTYPES; i++)
        if (!strcasecmp(name, ftypes[i].name)) return &ftypes[i];
    return NULL;
}

static bool type_is_quantized(enum flm_type t) {
    return t != FLM_TYPE_F32 && t != FLM_TYPE_F16 && t != FLM_TYPE_BF16;
}

static const char *type_name(enum flm_type t) {
    const struct flm_type_layout *l = flm_type_layout((uint32_t)t);
    return l ? l->name : "?";
}

static int64_t blck(enum flm_type t) { return flm_type_layout((uint32_t)t)->blck_size; }

// ---------------------------------------------------------------- order

// The layer of a name that starts "blk.<int>" (as sscanf "blk.%d." reads
// it), else -1.
static long layer_of(const char *s, bool *found) {
    *found = false;
    if (strncmp(s, "blk.", 4) != 0) return -1;
    const char *p = s + 4;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p) return -1;
    *found = true;
    if (errno == ERANGE || v > INT_MAX) return INT_MAX;
    if (v < INT_MIN) return INT_MIN;
    return v;
}

int flm_mix_name_cmp(const char *a, const char *b) {
    bool fa, fb;
    long la = layer_of(a, &fa), lb = layer_of(b, &fb);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

// ---------------------------------------------------------------- categories

enum category { C_TOKEN_EMBD, C_ATTN_Q, C_ATTN_V, C_ATTN_K, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUT,
                C_FFN_UP, C_FFN_GATE, C_FFN_DOWN, C_OUTPUT, C_OTHER };

static bool has(const char *s, const char *part) { return strstr(s, part) != NULL; }

static enum category category_of(const char *name) {
    if (!strcmp(name, "output.weight")) return C_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return C_TOKEN_EMBD;
    if (has(name, "attn_qkv.weight")) return C_ATTN_QKV;
    if (has(name, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (has(name, "attn_v.weight")) return C_ATTN_V;
    if (has(name, "attn_k.weight")) return C_ATTN_K;
    if (has(name, "attn_q.weight")) return C_ATTN_Q;
    if (has(name, "attn_output.weight")) return C_ATTN_OUT;
    if (has(name, "ffn_up")) return C_FFN_UP;
    if (has(name, "ffn_gate")) return C_FFN_GATE;
    if (has(name, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

// attn_v-like tensors: the most sensitive to quantization.
static bool is_attn_v(enum category c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

// Names never quantized: small, positional or integer tensors.
static const char *const keep_parts[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
    "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
    "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
    "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
    "a.rvq.codebook", "mm.a.code_embd",
};

static bool allows_quantization(const struct flm_mix_tensor *t) {
    if (t->n_dims < 2) return false;
    size_t len = strlen(t->name);
    if (len < 6 || strcmp(t->name + len - 6, "weight") != 0) return false;
    if (!strcmp(t->name, "position_embd.weight") || !strcmp(t->name, "token_types.weight")) return false;
    for (size_t k = 0; k < sizeof keep_parts / sizeof keep_parts[0]; k++)
        if (has(t->name, keep_parts[k])) return false;
    return true;
}

// ---------------------------------------------------------------- the rules

struct mix {
    const struct flm_mix_model *m;
    enum flm_ftype ftype;
    bool     tied;    // no output.weight: token_embd is also the output
    bool     falcon;
    bool     is_70b;  // llama.cpp's LLM_TYPE_70B (a Llama with 80 layers and GQA)
    int32_t  n_gqa;
    int32_t  n_attn_v, i_attn_v;
    int32_t  i_ffn_down, i_ffn_gate, i_ffn_up;
    struct flm_err *err;
};

static bool use_more_bits(int32_t i, int32_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// The layer a per-layer rule uses: the running count, or for models with
// experts (whose FFN tensors are not one per layer) the number in the name.
static flm_status layer_info(struct mix *x, int32_t counter, const char *name, int32_t *layer) {
    *layer = counter;
    if (x->m->n_expert <= 1) return FLM_OK;
    bool found;
    long l = layer_of(name, &found);
    if (!found) return flm_err_set(x->err, FLM_ERR_FORMAT, "quantize: cannot find the layer of tensor '%s'", name);
    if (l < 0 || l >= x->m->n_layer)
        return flm_err_set(x->err, FLM_ERR_FORMAT, "quantize: tensor '%s' has layer %ld, not in [0, %d)", name, l,
                           x->m->n_layer);
    *layer = (int32_t)l;
    return FLM_OK;
}

static enum flm_type rule_output(const struct mix *x, const struct flm_mix_tensor *t, enum flm_type ty) {
    if (x->falcon || t->ne[0] % blck(ty) != 0) return FLM_TYPE_Q8_0;
    return ty != FLM_TYPE_Q8_0 ? FLM_TYPE_Q6_K : ty;
}

static enum flm_type rule_attn_v(struct mix *x, enum flm_type ty) {
    const enum flm_ftype f = x->ftype;
    if (f == FLM_FTYPE_Q2_K) ty = x->n_gqa >= 4 ? FLM_TYPE_Q4_K : FLM_TYPE_Q3_K;
    else if (f == FLM_FTYPE_Q3_K_M) ty = x->i_attn_v < 2 ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K;
    else if (f == FLM_FTYPE_Q3_K_L) ty = FLM_TYPE_Q5_K;
    else if ((f == FLM_FTYPE_Q4_K_M || f == FLM_FTYPE_Q5_K_M) && use_more_bits(x->i_attn_v, x->n_attn_v))
        ty = FLM_TYPE_Q6_K;
    else if (f == FLM_FTYPE_Q4_K_S && x->i_attn_v < 4) ty = FLM_TYPE_Q5_K;
    if (x->is_70b && (ty == FLM_TYPE_Q3_K || ty == FLM_TYPE_Q4_K)) ty = FLM_TYPE_Q5_K;
    if (x->m->n_expert == 8) ty = FLM_TYPE_Q8_0;
    x->i_attn_v++;
    return ty;
}

static enum flm_type rule_ffn_down(const struct mix *x, int32_t i, int32_t n, enum flm_type ty) {
    const enum flm_ftype f = x->ftype;
    const bool more = use_more_bits(i, n);
    if (f == FLM_FTYPE_Q2_K) return FLM_TYPE_Q3_K;
    if (f == FLM_FTYPE_Q3_K_M)
        return i < n / 16 ? FLM_TYPE_Q5_K : !x->falcon || more ? FLM_TYPE_Q4_K : FLM_TYPE_Q3_K;
    if (f == FLM_FTYPE_Q3_K_L) return x->falcon ? FLM_TYPE_Q4_K : FLM_TYPE_Q5_K;
    if (f == FLM_FTYPE_Q4_K_M) {
        if (x->falcon) return i < n / 16 ? FLM_TYPE_Q6_K : more ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K;
        return more ? FLM_TYPE_Q6_K : ty;
    }
    if (f == FLM_FTYPE_Q5_K_M && more) return FLM_TYPE_Q6_K;
    if (f == FLM_FTYPE_Q4_K_S && !x->falcon && i < n / 8) return FLM_TYPE_Q5_K;
    return ty;
}

static enum flm_type rule_attn_output(const struct mix *x, enum flm_type ty) {
    const enum flm_ftype f = x->ftype;
    if (x->falcon) return f == FLM_FTYPE_Q3_K_L ? FLM_TYPE_Q4_K : ty;
    if (x->m->n_expert == 8) {
        bool bump = f == FLM_FTYPE_Q2_K || f == FLM_FTYPE_Q3_K_S || f == FLM_FTYPE_Q3_K_M ||
                    f == FLM_FTYPE_Q4_K_S || f == FLM_FTYPE_Q4_K_M;
        return bump ? FLM_TYPE_Q5_K : ty;
    }
    if (f == FLM_FTYPE_Q2_K) return FLM_TYPE_Q3_K;
    if (f == FLM_FTYPE_Q3_K_M) return FLM_TYPE_Q4_K;
    if (f == FLM_FTYPE_Q3_K_L) return FLM_TYPE_Q5_K;
    return ty;
}

// The mix's choice for a quantizable tensor, before the row-length fallback.
static flm_status choose(struct mix *x, const struct flm_mix_tensor *t, enum flm_type *ty) {
    const enum category c = category_of(t->name);
    int32_t layer;
    flm_status st = FLM_OK;
    if (c == C_OUTPUT || (x->tied && c == C_TOKEN_EMBD)) {
        *ty = rule_output(x, t, *ty);
    } else if (c == C_TOKEN_EMBD || c == C_ATTN_Q) {
        // no rule for the file types offered
    } else if (is_attn_v(c)) {
        *ty = rule_attn_v(x, *ty);
    } else if (c == C_ATTN_K) {
        if (x->m->n_expert == 8) *ty = FLM_TYPE_Q8_0;
    } else if (c == C_FFN_DOWN) {
        if ((st = layer_info(x, x->i_ffn_down, t->name, &layer)) != FLM_OK) return st;
        *ty = rule_ffn_down(x, layer, x->m->n_layer, *ty);
        x->i_ffn_down++;
    } else if (c == C_ATTN_OUT) {
        *ty = rule_attn_output(x, *ty);
    } else if (c == C_FFN_GATE) {
        st = layer_info(x, x->i_ffn_gate++, t->name, &layer);
    } else if (c == C_FFN_UP) {
        st = layer_info(x, x->i_ffn_up++, t->name, &layer);
    }
    return st;
}

// A type whose block does not divide the row length falls back to one with
// 32-element blocks, or to F16.
static flm_status fallback(const struct mix *x, const struct flm_mix_tensor *t, enum flm_type *ty) {
    if (t->ne[0] % blck(*ty) == 0) return FLM_OK;
    enum flm_type f;
    switch (*ty) {
    case FLM_TYPE_Q2_K:
    case FLM_TYPE_Q3_K: f = FLM_TYPE_Q4_0; break;
    case FLM_TYPE_Q4_K: f = FLM_TYPE_Q5_0; break;
    case FLM_TYPE_Q5_K: f = FLM_TYPE_Q5_1; break;
    case FLM_TYPE_Q6_K: f = FLM_TYPE_Q8_0; break;
    default:
        return flm_err_set(x->err, FLM_ERR_UNSUPPORTED,
                           "quantize: tensor '%s': row length %lld is not a multiple of %lld, the block size of %s, "
                           "and %s has no fallback type (llama.cpp refuses it too)",
                           t->name, (long long)t->ne[0], (long long)blck(*ty), type_name(*ty), type_name(*ty));
    }
    *ty = t->ne[0] % blck(f) == 0 ? f : FLM_TYPE_F16;
    return FLM_OK;
}

flm_status flm_mix_plan(const struct flm_mix_model *m, enum flm_ftype ftype, const struct flm_mix_tensor *t,
                        int64_t n, enum flm_type *out, struct flm_err *err) {
    const struct flm_ftype_info *fi = NULL;
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) fi = &ftypes[i];
    if (!m || !fi || (n > 0 && (!t || !out)))
        return flm_err_set(err, FLM_ERR_INVALID, "quantize: file type %d is not offered", (int)ftype);
    struct mix x = {.m = m, .ftype = ftype, .tied = true, .err = err};
    x.falcon = m->arch && !strcmp(m->arch, "falcon");
    x.is_70b = m->arch && !strcmp(m->arch, "llama") && m->n_layer == 80 && m->n_head != m->n_head_kv;
    x.n_gqa = m->n_head_kv > 0 ? m->n_head / m->n_head_kv : 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_attn_v(category_of(t[i].name))) x.n_attn_v++;
        if (category_of(t[i].name) == C_OUTPUT) x.tied = false;
    }
    for (int64_t i = 0; i < n; i++) {
        enum flm_type ty = fi->base;
        if (!allows_quantization(&t[i])) {
            out[i] = t[i].type;
            continue;
        }
        if (type_is_quantized(fi->base)) {
            flm_status st = choose(&x, &t[i], &ty);
            if (st == FLM_OK) st = fallback(&x, &t[i], &ty);
            if (st != FLM_OK) return st;
        }
        out[i] = ty;
    }
    return FLM_OK;
}
