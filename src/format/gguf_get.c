// gguf_get.c - lookups and typed getters on a validated GGUF handle.
//
// Everything here reads bytes that gguf.c has already bounds-checked, so the
// only failures are the caller's: a key that is missing or has another type
// (reported through flm_err) and indices out of range (FLM_ASSERT).
#include "format/gguf_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef unsigned long long ull;

// ---------------------------------------------------------------- file facts

uint32_t flm_gguf_version(const struct flm_gguf *g) { return g->version; }
uint64_t flm_gguf_file_size(const struct flm_gguf *g) { return g->size; }
const char *flm_gguf_path(const struct flm_gguf *g) { return g->name; }
void flm_gguf_file_id(const struct flm_gguf *g, struct flm_gguf_file_id *out) { *out = g->id; }
uint64_t flm_gguf_header_bytes(const struct flm_gguf *g) { return g->header_only ? g->avail : 0; }
uint32_t flm_gguf_alignment(const struct flm_gguf *g) { return g->alignment; }
uint64_t flm_gguf_data_offset(const struct flm_gguf *g) { return g->data_offset; }

const char *flm_gguf_vtype_name(enum flm_gguf_vtype t) {
    static const char *const names[] = {
        [FLM_GGUF_UINT8] = "u8",     [FLM_GGUF_INT8] = "i8",       [FLM_GGUF_UINT16] = "u16",
        [FLM_GGUF_INT16] = "i16",    [FLM_GGUF_UINT32] = "u32",    [FLM_GGUF_INT32] = "i32",
        [FLM_GGUF_FLOAT32] = "f32",  [FLM_GGUF_BOOL] = "bool",     [FLM_GGUF_STRING] = "string",
        [FLM_GGUF_ARRAY] = "array",  [FLM_GGUF_UINT64] = "u64",    [FLM_GGUF_INT64] = "i64",
        [FLM_GGUF_FLOAT64] = "f64",
    };
    if ((unsigned)t >= sizeof names / sizeof names[0]) return "unknown";
    return names[t];
}

// ---------------------------------------------------------------- by index

int64_t flm_gguf_n_kv(const struct flm_gguf *g) { return g->n_kv; }

static const struct gguf_kv *kv_at(const struct flm_gguf *g, int64_t i) {
    FLM_ASSERT(i >= 0 && i < g->n_kv);
    return &g->kv[i];
}

static const struct gguf_kv *arr_at(const struct flm_gguf *g, int64_t i) {
    const struct gguf_kv *kv = kv_at(g, i);
    FLM_ASSERT(kv->type == FLM_GGUF_ARRAY);
    return kv;
}

struct flm_gguf_str flm_gguf_key(const struct flm_gguf *g, int64_t i) { return kv_at(g, i)->key; }
enum flm_gguf_vtype flm_gguf_kv_type(const struct flm_gguf *g, int64_t i) { return kv_at(g, i)->type; }
enum flm_gguf_vtype flm_gguf_arr_type(const struct flm_gguf *g, int64_t i) { return arr_at(g, i)->arr_type; }
uint64_t flm_gguf_arr_len(const struct flm_gguf *g, int64_t i) { return arr_at(g, i)->arr_len; }

const void *flm_gguf_arr_data(const struct flm_gguf *g, int64_t i) {
    const struct gguf_kv *kv = arr_at(g, i);
    FLM_ASSERT(kv->arr_type != FLM_GGUF_STRING);
    return kv->arr_data;
}

struct flm_gguf_str flm_gguf_arr_str(const struct flm_gguf *g, int64_t i, uint64_t j) {
    const struct gguf_kv *kv = arr_at(g, i);
    FLM_ASSERT(kv->arr_type == FLM_GGUF_STRING && j < kv->arr_len);
    struct flm_gguf_str s;
    memcpy(&s.len, g->base + kv->str_off[j], 8);
    s.ptr = (const char *)g->base + kv->str_off[j] + 8;
    return s;
}

// ---------------------------------------------------------------- by name

static int64_t find(const int64_t *tab, uint64_t mask, const char *name, struct flm_gguf_str (*name_of)(const struct flm_gguf *, int64_t),
                    const struct flm_gguf *g) {
    if (!tab || !name) return -1;
    size_t len = strlen(name);
    for (uint64_t h = flm_gguf_hash(name, len) & mask; tab[h] != 0; h = (h + 1) & mask) {
        struct flm_gguf_str o = name_of(g, tab[h] - 1);
        if (o.len == len && memcmp(o.ptr, name, len) == 0) return tab[h] - 1;
    }
    return -1;
}

static struct flm_gguf_str kv_name(const struct flm_gguf *g, int64_t i) { return g->kv[i].key; }
static struct flm_gguf_str tensor_name(const struct flm_gguf *g, int64_t i) { return g->tensors[i].name; }

int64_t flm_gguf_find_key(const struct flm_gguf *g, const char *key) {
    return find(g->kv_hash, g->kv_mask, key, kv_name, g);
}

int64_t flm_gguf_n_tensors(const struct flm_gguf *g) { return g->n_tensors; }

const struct flm_gguf_tensor *flm_gguf_tensor(const struct flm_gguf *g, int64_t i) {
    FLM_ASSERT(i >= 0 && i < g->n_tensors);
    return &g->tensors[i];
}

const struct flm_gguf_tensor *flm_gguf_find_tensor(const struct flm_gguf *g, const char *name) {
    int64_t i = find(g->t_hash, g->t_mask, name, tensor_name, g);
    return i < 0 ? NULL : &g->tensors[i];
}

// ---------------------------------------------------------------- typed getters

// "u32", or "array of string" for arrays.
static const char *type_desc(const struct gguf_kv *kv, char *buf, size_t n) {
    if (kv->type != FLM_GGUF_ARRAY) return flm_gguf_vtype_name(kv->type);
    snprintf(buf, n, "array of %s", flm_gguf_vtype_name(kv->arr_type));
    return buf;
}

static flm_status lookup(const struct flm_gguf *g, const char *key, const struct gguf_kv **kv, struct flm_err *err) {
    int64_t i = flm_gguf_find_key(g, key);
    if (i < 0) return flm_err_set(err, FLM_ERR_FORMAT, "gguf: %s: missing key '%s'", g->name, key ? key : "(null)");
    *kv = &g->kv[i];
    return FLM_OK;
}

static flm_status wrong_type(const struct flm_gguf *g, const char *key, const struct gguf_kv *kv,
                             const char *want, struct flm_err *err) {
    char d[40];
    return flm_err_set(err, FLM_ERR_FORMAT, "gguf: %s: key '%s' has type %s, expected %s", g->name, key,
                       type_desc(kv, d, sizeof d), want);
}

// An integer of any width: neg is set when it is below zero (then s holds it),
// else u holds it.
struct ival {
    bool     neg;
    uint64_t u;
    int64_t  s;
};

static bool read_int(const struct gguf_kv *kv, struct ival *v) {
    const uint8_t *p = kv->val;
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (kv->type) {
    case FLM_GGUF_UINT8:  { uint8_t x;  memcpy(&x, p, 1); u = x; is_signed = false; break; }
    case FLM_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); u = x; is_signed = false; break; }
    case FLM_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); u = x; is_signed = false; break; }
    case FLM_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); u = x; is_signed = false; break; }
    case FLM_GGUF_INT8:   { int8_t x;   memcpy(&x, p, 1); s = x; break; }
    case FLM_GGUF_INT16:  { int16_t x;  memcpy(&x, p, 2); s = x; break; }
    case FLM_GGUF_INT32:  { int32_t x;  memcpy(&x, p, 4); s = x; break; }
    case FLM_GGUF_INT64:  { int64_t x;  memcpy(&x, p, 8); s = x; break; }
    default: return false;
    }
    v->neg = is_signed && s < 0;
    v->s = s;
    v->u = is_signed ? (s < 0 ? 0 : (uint64_t)s) : u;
    return true;
}

// Looks key up as an integer and checks it lies in [lo, hi].
static flm_status get_int(const struct flm_gguf *g, const char *key, const char *want, int64_t lo, uint64_t hi,
                          struct ival *v, struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (!read_int(kv, v)) return wrong_type(g, key, kv, want, err);
    if (v->neg ? v->s < lo : v->u > hi) {
        char num[32];
        if (v->neg) snprintf(num, sizeof num, "%" PRId64, v->s);
        else snprintf(num, sizeof num, "%" PRIu64, v->u);
        return flm_err_set(err, FLM_ERR_FORMAT, "gguf: %s: key '%s' = %s (%s) does not fit in %s", g->name, key,
                           num, flm_gguf_vtype_name(kv->type), want);
    }
    return FLM_OK;
}

flm_status flm_gguf_get_u32(const struct flm_gguf *g, const char *key, uint32_t *out, struct flm_err *err) {
    struct ival v = {0};
    flm_status st = get_int(g, key, "u32", 0, UINT32_MAX, &v, err);
    if (st == FLM_OK) *out = (uint32_t)v.u;
    return st;
}

flm_status flm_gguf_get_i32(const struct flm_gguf *g, const char *key, int32_t *out, struct flm_err *err) {
    struct ival v = {0};
    flm_status st = get_int(g, key, "i32", INT32_MIN, INT32_MAX, &v, err);
    if (st == FLM_OK) *out = v.neg ? (int32_t)v.s : (int32_t)v.u;
    return st;
}

flm_status flm_gguf_get_u64(const struct flm_gguf *g, const char *key, uint64_t *out, struct flm_err *err) {
    struct ival v = {0};
    flm_status st = get_int(g, key, "u64", 0, UINT64_MAX, &v, err);
    if (st == FLM_OK) *out = v.u;
    return st;
}

flm_status flm_gguf_get_i64(const struct flm_gguf *g, const char *key, int64_t *out, struct flm_err *err) {
    struct ival v = {0};
    flm_status st = get_int(g, key, "i64", INT64_MIN, INT64_MAX, &v, err);
    if (st == FLM_OK) *out = v.neg ? v.s : (int64_t)v.u;
    return st;
}

flm_status flm_gguf_get_f32(const struct flm_gguf *g, const char *key, float *out, struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (kv->type == FLM_GGUF_FLOAT32) {
        memcpy(out, kv->val, 4);
    } else if (kv->type == FLM_GGUF_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
    } else {
        return wrong_type(g, key, kv, "f32", err);
    }
    return FLM_OK;
}

flm_status flm_gguf_get_f64(const struct flm_gguf *g, const char *key, double *out, struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (kv->type == FLM_GGUF_FLOAT64) {
        memcpy(out, kv->val, 8);
    } else if (kv->type == FLM_GGUF_FLOAT32) {
        float f;
        memcpy(&f, kv->val, 4);
        *out = f;
    } else {
        return wrong_type(g, key, kv, "f64", err);
    }
    return FLM_OK;
}

flm_status flm_gguf_get_bool(const struct flm_gguf *g, const char *key, bool *out, struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (kv->type != FLM_GGUF_BOOL) return wrong_type(g, key, kv, "bool", err);
    *out = kv->val[0] != 0;
    return FLM_OK;
}

flm_status flm_gguf_get_str(const struct flm_gguf *g, const char *key, struct flm_gguf_str *out,
                            struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (kv->type != FLM_GGUF_STRING) return wrong_type(g, key, kv, "string", err);
    memcpy(&out->len, kv->val, 8);
    out->ptr = (const char *)kv->val + 8;
    return FLM_OK;
}

flm_status flm_gguf_get_arr(const struct flm_gguf *g, const char *key, enum flm_gguf_vtype elem, int64_t *idx,
                            uint64_t *len, struct flm_err *err) {
    const struct gguf_kv *kv = NULL;
    flm_status st = lookup(g, key, &kv, err);
    if (st != FLM_OK) return st;
    if (kv->type != FLM_GGUF_ARRAY || kv->arr_type != elem) {
        char want[40];
        snprintf(want, sizeof want, "array of %s", flm_gguf_vtype_name(elem));
        return wrong_type(g, key, kv, want, err);
    }
    *idx = kv - g->kv;
    *len = kv->arr_len;
    return FLM_OK;
}
