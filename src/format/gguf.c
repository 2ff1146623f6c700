// gguf.c - opening a GGUF file and validating all of it before handing it out.
//
// Every read goes through a cursor that checks the bytes left first; every
// count is bounded by the bytes left before anything is allocated for it, and
// every size computed from the file is checked for overflow before it is
// multiplied. Errors read "gguf: <file>: <thing at fault>: <value/offset>".
#include "format/gguf_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_HEADER_SIZE   24u     // magic, version, n_tensors, n_kv
#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_MAX_KEY_LEN   65535u  // the GGUF spec's limit
#define GGUF_MAX_NAME_LEN  63u     // ggml's GGML_MAX_NAME (64) minus the NUL
// Smallest possible encodings, used to bound counts by the bytes left:
// key/value = key length + 1 key byte + type + 1 value byte;
// tensor info = name length + 1 name byte + n_dims + one dim + type + offset.
#define GGUF_MIN_KV_BYTES     (8u + 1u + 4u + 1u)
#define GGUF_MIN_TENSOR_BYTES (8u + 1u + 4u + 8u + 4u + 8u)

typedef unsigned long long ull;

// ---------------------------------------------------------------- the cursor

struct parser {
    struct flm_gguf *g;
    uint64_t         pos;
    struct flm_err  *err;
    char             ctx[128];  // the item being read, for messages: "key 'general.name'"
};

static uint64_t left(const struct parser *ps) { return ps->g->avail - ps->pos; }

static flm_status fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static flm_status fail(struct parser *ps, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ps->g->header_parsed && ps->g->avail < ps->g->size) ps->g->want_more = true;  // maybe just a short prefix
    return flm_err_set(ps->err, FLM_ERR_FORMAT, "gguf: %s: %s", ps->g->name, msg);
}

static void set_ctx(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_ctx(struct parser *ps, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->ctx, sizeof ps->ctx, fmt, ap);
    va_end(ap);
}

// Fails unless n more bytes are in the file; what names them.
static flm_status need(struct parser *ps, uint64_t n, const char *what) {
    if (n <= left(ps)) return FLM_OK;
    return fail(ps, "%s: %s at offset %llu needs %llu bytes but the file ends at %llu", ps->ctx, what,
                (ull)ps->pos, (ull)n, (ull)ps->g->size);
}

static uint32_t take_u32(struct parser *ps) {
    uint32_t v;
    memcpy(&v, ps->g->base + ps->pos, 4);
    ps->pos += 4;
    return v;
}

static uint64_t take_u64(struct parser *ps) {
    uint64_t v;
    memcpy(&v, ps->g->base + ps->pos, 8);
    ps->pos += 8;
    return v;
}

static flm_status read_u32(struct parser *ps, const char *what, uint32_t *v) {
    flm_status st = need(ps, 4, what);
    if (st == FLM_OK) *v = take_u32(ps);
    return st;
}

static flm_status read_u64(struct parser *ps, const char *what, uint64_t *v) {
    flm_status st = need(ps, 8, what);
    if (st == FLM_OK) *v = take_u64(ps);
    return st;
}

// A gguf string: u64 length, then that many bytes.
static flm_status read_str(struct parser *ps, const char *what, struct flm_gguf_str *s) {
    uint64_t at = ps->pos, len;
    flm_status st = read_u64(ps, what, &len);
    if (st != FLM_OK) return st;
    if (len > left(ps))
        return fail(ps, "%s: %s length %llu at offset %llu exceeds the %llu bytes left in the file", ps->ctx,
                    what, (ull)len, (ull)at, (ull)left(ps));
    s->ptr = (const char *)ps->g->base + ps->pos;
    s->len = len;
    ps->pos += len;
    return FLM_OK;
}

const char *flm_gguf_printable(char *buf, size_t cap, const char *s, uint64_t len) {
    FLM_ASSERT(cap >= 8);
    size_t n = len < cap - 1 ? (size_t)len : cap - 4, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n < len) memcpy(buf + i, "...", 3), i += 3;
    buf[i] = '\0';
    return buf;
}

// ---------------------------------------------------------------- values

size_t flm_gguf_vtype_size(uint32_t t) {
    switch (t) {
    case FLM_GGUF_UINT8: case FLM_GGUF_INT8: case FLM_GGUF_BOOL: return 1;
    case FLM_GGUF_UINT16: case FLM_GGUF_INT16: return 2;
    case FLM_GGUF_UINT32: case FLM_GGUF_INT32: case FLM_GGUF_FLOAT32: return 4;
    case FLM_GGUF_UINT64: case FLM_GGUF_INT64: case FLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool vtype_known(uint32_t t) { return t <= FLM_GGUF_FLOAT64; }

// Bools are one byte and must be 0 or 1.
static flm_status check_bools(struct parser *ps, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail(ps, "%s: bool at offset %llu has value %u, expected 0 or 1", ps->ctx,
                        (ull)(p + i - ps->g->base), p[i]);
    return FLM_OK;
}

static flm_status parse_str_array(struct parser *ps, struct gguf_kv *kv) {
    uint64_t n = kv->arr_len;
    if (n > left(ps) / 8)
        return fail(ps, "%s: array of %llu strings needs at least %llu bytes but only %llu are left", ps->ctx,
                    (ull)n, n > UINT64_MAX / 8 ? (ull)UINT64_MAX : (ull)(n * 8), (ull)left(ps));
    if (n == 0) return FLM_OK;
    kv->str_off = malloc((size_t)n * sizeof *kv->str_off);
    if (!kv->str_off)
        return flm_err_set(ps->err, FLM_ERR_NOMEM, "gguf: %s: %s: no memory for %llu string offsets",
                           ps->g->name, ps->ctx, (ull)n);
    for (uint64_t j = 0; j < n; j++) {
        struct flm_gguf_str s;
        kv->str_off[j] = ps->pos;
        flm_status st = read_str(ps, "array string", &s);
        if (st != FLM_OK) return st;
    }
    return FLM_OK;
}

static flm_status parse_array(struct parser *ps, struct gguf_kv *kv) {
    uint32_t et;
    uint64_t n;
    flm_status st = read_u32(ps, "array element type", &et);
    if (st == FLM_OK) st = read_u64(ps, "array length", &n);
    if (st != FLM_OK) return st;
    if (et == FLM_GGUF_ARRAY) return fail(ps, "%s: arrays of arrays are not supported", ps->ctx);
    if (!vtype_known(et))
        return fail(ps, "%s: unknown array element type %u at offset %llu", ps->ctx, et, (ull)(ps->pos - 12));
    kv->arr_type = (enum flm_gguf_vtype)et;
    kv->arr_len  = n;
    kv->val      = ps->g->base + ps->pos;
    if (et == FLM_GGUF_STRING) return parse_str_array(ps, kv);
    uint64_t esz = flm_gguf_vtype_size(et);
    if (n > left(ps) / esz)
        return fail(ps, "%s: array length %llu of %llu-byte elements at offset %llu exceeds the %llu bytes left",
                    ps->ctx, (ull)n, (ull)esz, (ull)ps->pos, (ull)left(ps));
    if (et == FLM_GGUF_BOOL && (st = check_bools(ps, kv->val, n)) != FLM_OK) return st;
    kv->arr_data = kv->val;
    ps->pos += n * esz;
    return FLM_OK;
}

static flm_status parse_value(struct parser *ps, struct gguf_kv *kv) {
    uint32_t t;
    flm_status st = read_u32(ps, "value type", &t);
    if (st != FLM_OK) return st;
    if (!vtype_known(t)) return fail(ps, "%s: unknown value type %u at offset %llu", ps->ctx, t, (ull)(ps->pos - 4));
    kv->type = (enum flm_gguf_vtype)t;
    kv->val  = ps->g->base + ps->pos;
    if (t == FLM_GGUF_ARRAY) return parse_array(ps, kv);
    if (t == FLM_GGUF_STRING) {
        struct flm_gguf_str s;
        return read_str(ps, "string value", &s);
    }
    size_t sz = flm_gguf_vtype_size(t);
    if ((st = need(ps, sz, "value")) != FLM_OK) return st;
    if (t == FLM_GGUF_BOOL && (st = check_bools(ps, kv->val, 1)) != FLM_OK) return st;
    ps->pos += sz;
    return FLM_OK;
}

// ---------------------------------------------------------------- hash sets

static flm_status hash_alloc(struct parser *ps, int64_t n, int64_t **tab, uint64_t *mask) {
    uint64_t cap = 8;
    while (cap < 2 * (uint64_t)n) cap *= 2;
    *tab = calloc((size_t)cap, sizeof **tab);
    if (!*tab)
        return flm_err_set(ps->err, FLM_ERR_NOMEM, "gguf: %s: no memory for a %llu-slot index", ps->g->name,
                           (ull)cap);
    *mask = cap - 1;
    return FLM_OK;
}

// Inserts index i under name s; returns the index already there, or -1.
static int64_t hash_insert(int64_t *tab, uint64_t mask, struct flm_gguf_str s, int64_t i,
                           struct flm_gguf_str (*name_of)(const struct flm_gguf *, int64_t),
                           const struct flm_gguf *g) {
    for (uint64_t h = flm_gguf_hash(s.ptr, s.len) & mask;; h = (h + 1) & mask) {
        if (tab[h] == 0) {
            tab[h] = i + 1;
            return -1;
        }
        struct flm_gguf_str o = name_of(g, tab[h] - 1);
        if (o.len == s.len && memcmp(o.ptr, s.ptr, s.len) == 0) return tab[h] - 1;
    }
}

static struct flm_gguf_str kv_name(const struct flm_gguf *g, int64_t i) { return g->kv[i].key; }
static struct flm_gguf_str tensor_name(const struct flm_gguf *g, int64_t i) { return g->tensors[i].name; }

// ---------------------------------------------------------------- header and metadata

static flm_status parse_header(struct parser *ps, uint64_t *n_tensors, uint64_t *n_kv) {
    struct flm_gguf *g = ps->g;
    const uint8_t *b = g->base;
    if (g->size >= 4 && memcmp(b, "GGUF", 4) != 0) {
        char m[8];
        return fail(ps, "not a GGUF file: magic '%s' (%02x %02x %02x %02x) at offset 0, expected 'GGUF'",
                    flm_gguf_printable(m, sizeof m, (const char *)b, 4), b[0], b[1], b[2], b[3]);
    }
    if (g->size >= 8) {
        uint32_t v, swapped;
        memcpy(&v, b + 4, 4);
        swapped = __builtin_bswap32(v);
        if (v == 1) return fail(ps, "GGUF version 1 is not supported (only versions 2 and 3 are)");
        if (v != 2 && v != 3) {
            if (swapped >= 1 && swapped <= 3)
                return fail(ps, "big-endian GGUF (version bytes %08x) is not supported", v);
            return fail(ps, "unsupported GGUF version %u at offset 4 (expected 2 or 3)", v);
        }
        g->version = v;
    }
    if (g->size < GGUF_HEADER_SIZE)
        return fail(ps, "file is %llu bytes, shorter than the %u-byte GGUF header", (ull)g->size,
                    GGUF_HEADER_SIZE);
    ps->pos = 8;
    *n_tensors = take_u64(ps);
    *n_kv = take_u64(ps);
    uint64_t rest = g->size - ps->pos;  // the whole file bounds the counts, even when only a prefix is read
    if (*n_kv > rest / GGUF_MIN_KV_BYTES)
        return fail(ps, "n_kv %llu at offset 16 is implausible: that many key/value pairs need at least %u bytes "
                    "each but only %llu bytes follow the header", (ull)*n_kv, GGUF_MIN_KV_BYTES, (ull)rest);
    rest -= *n_kv * GGUF_MIN_KV_BYTES;
    if (*n_tensors > rest / GGUF_MIN_TENSOR_BYTES)
        return fail(ps, "n_tensors %llu at offset 8 is implausible: that many tensor infos need at least %u bytes "
                    "each but only %llu bytes are left for them", (ull)*n_tensors, GGUF_MIN_TENSOR_BYTES,
                    (ull)rest);
    return FLM_OK;
}

static flm_status parse_kvs(struct parser *ps) {
    struct flm_gguf *g = ps->g;
    flm_status st = hash_alloc(ps, g->n_kv, &g->kv_hash, &g->kv_mask);
    for (int64_t i = 0; st == FLM_OK && i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        char k[80];
        set_ctx(ps, "key #%lld", (long long)i);
        uint64_t at = ps->pos;
        if ((st = read_str(ps, "key string", &kv->key)) != FLM_OK) break;
        if (kv->key.len == 0) return fail(ps, "key #%lld at offset %llu is empty", (long long)i, (ull)at);
        if (kv->key.len > GGUF_MAX_KEY_LEN)
            return fail(ps, "key #%lld at offset %llu is %llu bytes long (at most %u)", (long long)i, (ull)at,
                        (ull)kv->key.len, GGUF_MAX_KEY_LEN);
        set_ctx(ps, "key '%s'", flm_gguf_printable(k, sizeof k, kv->key.ptr, kv->key.len));
        int64_t dup = hash_insert(g->kv_hash, g->kv_mask, kv->key, i, kv_name, g);
        if (dup >= 0)
            return fail(ps, "duplicate key '%s' (key/value pairs #%lld and #%lld)", k, (long long)dup,
                        (long long)i);
        st = parse_value(ps, kv);
    }
    return st;
}

static flm_status check_alignment(struct parser *ps) {
    struct flm_gguf *g = ps->g;
    int64_t i = flm_gguf_find_key(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGN;
    if (i < 0) return FLM_OK;
    if (g->kv[i].type != FLM_GGUF_UINT32)
        return fail(ps, "general.alignment has type %s, expected u32", flm_gguf_vtype_name(g->kv[i].type));
    uint32_t a;
    memcpy(&a, g->kv[i].val, 4);
    if (a == 0 || (a & (a - 1)) != 0) return fail(ps, "general.alignment = %u is not a power of two", a);
    g->alignment = a;
    return FLM_OK;
}

// Numeric arrays that are not aligned for their element type in the file get
// an aligned copy, all in one block, so callers can index them as C arrays.
static const uint64_t no_elements;  // what empty arrays point to: aligned for any type

static flm_status align_arrays(struct parser *ps) {
    struct flm_gguf *g = ps->g;
    uint64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < g->n_kv; i++) {
            struct gguf_kv *kv = &g->kv[i];
            if (kv->type != FLM_GGUF_ARRAY || kv->arr_type == FLM_GGUF_STRING) continue;
            size_t esz = flm_gguf_vtype_size(kv->arr_type);
            if (kv->arr_len == 0) kv->arr_data = &no_elements;
            if (kv->arr_len == 0 || (uintptr_t)kv->val % esz == 0) continue;
            if (pass == 1) {
                kv->arr_data = (uint8_t *)g->arr_copy + total;
                memcpy((uint8_t *)g->arr_copy + total, kv->val, (size_t)(kv->arr_len * esz));
            }
            total += (kv->arr_len * esz + 7) & ~(uint64_t)7;
        }
        if (pass == 0) {
            if (total == 0) return FLM_OK;
            if (total > SIZE_MAX || !(g->arr_copy = malloc((size_t)total)))
                return flm_err_set(ps->err, FLM_ERR_NOMEM, "gguf: %s: no memory for %llu bytes of arrays",
                                   g->name, (ull)total);
            total = 0;
        }
    }
    return FLM_OK;
}

// ---------------------------------------------------------------- tensor infos

static flm_status tensor_shape(struct parser *ps, struct flm_gguf_tensor *t) {
    uint32_t n_dims;
    flm_status st = read_u32(ps, "n_dims", &n_dims);
    if (st != FLM_OK) return st;
    if (n_dims < 1 || n_dims > FLM_GGUF_MAX_DIMS)
        return fail(ps, "%s: n_dims %u at offset %llu is not in 1..%d", ps->ctx, n_dims, (ull)(ps->pos - 4),
                    FLM_GGUF_MAX_DIMS);
    if ((st = need(ps, 8ull * n_dims, "dims")) != FLM_OK) return st;
    t->n_dims = n_dims;
    for (uint32_t j = 0; j < FLM_GGUF_MAX_DIMS; j++) t->ne[j] = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        uint64_t d = take_u64(ps);
        if (d > INT64_MAX)
            return fail(ps, "%s: ne[%u] = %lld at offset %llu is negative", ps->ctx, j, (long long)d,
                        (ull)(ps->pos - 8));
        t->ne[j] = (int64_t)d;
    }
    // the element count must fit in int64 (ggml's limit); zero dims are allowed
    // (an empty tensor) and the product of the others must still fit
    int64_t nel = 1;
    for (uint32_t j = 0; j < FLM_GGUF_MAX_DIMS; j++) {
        if (t->ne[j] == 0) continue;
        if (nel > INT64_MAX / t->ne[j])
            return fail(ps, "%s: element count of ne = [%lld, %lld, %lld, %lld] overflows int64", ps->ctx,
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        nel *= t->ne[j];
    }
    return FLM_OK;
}

static flm_status tensor_size(struct parser *ps, struct flm_gguf_tensor *t, uint32_t type) {
    const struct flm_type_layout *l = flm_type_layout(type);
    if (!l) return fail(ps, "%s: unknown tensor type %u at offset %llu", ps->ctx, type, (ull)(ps->pos - 4));
    t->type = (enum flm_type)type;
    if (t->ne[0] % l->blck_size != 0)
        return fail(ps, "%s: ne[0] = %lld is not a multiple of the %s block size %lld", ps->ctx,
                    (long long)t->ne[0], l->name, (long long)l->blck_size);
    uint64_t blocks = (uint64_t)(t->ne[0] / l->blck_size), rows = 1;
    for (int j = 1; j < FLM_GGUF_MAX_DIMS; j++) rows *= (uint64_t)t->ne[j];  // <= the element count
    if (blocks == 0 || rows == 0) {
        t->nbytes = 0;
        return FLM_OK;
    }
    if (blocks > UINT64_MAX / l->type_size || blocks * l->type_size > SIZE_MAX / rows)
        return fail(ps, "%s: byte size of %lld x %lld x %lld x %lld %s overflows", ps->ctx, (long long)t->ne[0],
                    (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], l->name);
    t->nbytes = (size_t)(blocks * l->type_size * rows);
    return FLM_OK;
}

static flm_status parse_tensor(struct parser *ps, int64_t i) {
    struct flm_gguf *g = ps->g;
    struct flm_gguf_tensor *t = &g->tensors[i];
    char nm[80];
    uint64_t at = ps->pos;
    uint32_t type;
    set_ctx(ps, "tensor #%lld", (long long)i);
    flm_status st = read_str(ps, "name", &t->name);
    if (st != FLM_OK) return st;
    if (t->name.len == 0) return fail(ps, "tensor #%lld at offset %llu has an empty name", (long long)i, (ull)at);
    flm_gguf_printable(nm, sizeof nm, t->name.ptr, t->name.len);
    if (t->name.len > GGUF_MAX_NAME_LEN)
        return fail(ps, "tensor #%lld name '%s' is %llu bytes long (at most %u)", (long long)i, nm,
                    (ull)t->name.len, GGUF_MAX_NAME_LEN);
    set_ctx(ps, "tensor '%s'", nm);
    if ((st = tensor_shape(ps, t)) != FLM_OK) return st;
    if ((st = read_u32(ps, "type", &type)) != FLM_OK) return st;
    if ((st = tensor_size(ps, t, type)) != FLM_OK) return st;
    if ((st = read_u64(ps, "offset", &t->offset)) != FLM_OK) return st;
    if (t->offset % g->alignment != 0)
        return fail(ps, "%s: offset %llu is not a multiple of the alignment %u", ps->ctx, (ull)t->offset,
                    g->alignment);
    int64_t dup = hash_insert(g->t_hash, g->t_mask, t->name, i, tensor_name, g);
    if (dup >= 0)
        return fail(ps, "duplicate tensor name '%s' (tensors #%lld and #%lld)", nm, (long long)dup, (long long)i);
    return FLM_OK;
}

// ---------------------------------------------------------------- data section

struct span {
    uint64_t begin, end;
    int64_t  idx;
};

static int span_cmp(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static flm_status check_data(struct parser *ps) {
    struct flm_gguf *g = ps->g;
    g->header_parsed = true;
    uint64_t end = ps->pos, a = g->alignment;
    uint64_t data = end % a ? end + (a - end % a) : end;  // end <= size, so no overflow
    if (g->n_tensors == 0) {  // nothing to place: the padding may be cut off
        g->data_offset = data < g->size ? data : g->size;
        return FLM_OK;
    }
    if (data > g->size)
        return fail(ps, "data section starts at offset %llu (tensor infos end at %llu, alignment %u), beyond "
                    "file size %llu", (ull)data, (ull)end, g->alignment, (ull)g->size);
    g->data_offset = data;
    uint64_t room = g->size - data;
    struct span *sp = malloc((size_t)g->n_tensors * sizeof *sp);
    if (!sp) return flm_err_set(ps->err, FLM_ERR_NOMEM, "gguf: %s: no memory to sort tensors", g->name);
    int64_t n = 0;
    flm_status st = FLM_OK;
    for (int64_t i = 0; i < g->n_tensors && st == FLM_OK; i++) {
        struct flm_gguf_tensor *t = &g->tensors[i];
        char nm[80];
        flm_gguf_printable(nm, sizeof nm, t->name.ptr, t->name.len);
        if (t->offset > room)
            st = fail(ps, "tensor '%s' offset %llu (data section at %llu) beyond file size %llu", nm,
                      (ull)t->offset, (ull)data, (ull)g->size);
        else if (t->nbytes > room - t->offset)
            st = fail(ps, "tensor '%s' data [%llu, %llu) beyond file size %llu", nm, (ull)(data + t->offset),
                      t->nbytes > UINT64_MAX - data - t->offset ? (ull)UINT64_MAX
                                                                : (ull)(data + t->offset + t->nbytes),
                      (ull)g->size);
        if (st != FLM_OK) break;
        t->data = g->header_only ? NULL : g->base + data + t->offset;
        if (t->nbytes > 0) sp[n++] = (struct span){t->offset, t->offset + t->nbytes, i};
    }
    if (st == FLM_OK) qsort(sp, (size_t)n, sizeof *sp, span_cmp);
    for (int64_t i = 1; i < n && st == FLM_OK; i++) {
        if (sp[i].begin >= sp[i - 1].end) continue;
        const struct flm_gguf_tensor *x = &g->tensors[sp[i - 1].idx], *y = &g->tensors[sp[i].idx];
        char nx[80], ny[80];
        st = fail(ps, "tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap in the data section",
                  flm_gguf_printable(nx, sizeof nx, x->name.ptr, x->name.len), (ull)(data + sp[i - 1].begin),
                  (ull)(data + sp[i - 1].end), flm_gguf_printable(ny, sizeof ny, y->name.ptr, y->name.len),
                  (ull)(data + sp[i].begin), (ull)(data + sp[i].end));
    }
    free(sp);
    return st;
}

// ---------------------------------------------------------------- open / close

static flm_status parse(struct flm_gguf *g, struct flm_err *err) {
    struct parser ps = {.g = g, .err = err};
    uint64_t n_tensors = 0, n_kv = 0;
    set_ctx(&ps, "header");
    flm_status st = parse_header(&ps, &n_tensors, &n_kv);
    if (st != FLM_OK) return st;
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    if (n_kv && !(g->kv = calloc((size_t)n_kv, sizeof *g->kv)))
        return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: no memory for %llu key/value pairs", g->name, (ull)n_kv);
    if (n_tensors && !(g->tensors = calloc((size_t)n_tensors, sizeof *g->tensors)))
        return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: no memory for %llu tensors", g->name, (ull)n_tensors);
    if ((st = parse_kvs(&ps)) != FLM_OK) return st;
    if ((st = check_alignment(&ps)) != FLM_OK) return st;
    if ((st = align_arrays(&ps)) != FLM_OK) return st;
    if ((st = hash_alloc(&ps, g->n_tensors, &g->t_hash, &g->t_mask)) != FLM_OK) return st;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((st = parse_tensor(&ps, i)) != FLM_OK) return st;
    return check_data(&ps);
}

// Takes ownership of nothing; on failure frees g (but not the caller's bytes).
static flm_status finish_open(struct flm_gguf **out, struct flm_gguf *g, struct flm_err *err) {
    flm_status st = parse(g, err);
    if (st != FLM_OK) {
        flm_gguf_close(g);
        return st;
    }
    *out = g;
    return FLM_OK;
}

static struct flm_gguf *new_handle(const char *name) {
    struct flm_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    size_t n = strlen(name);
    if (!(g->name = malloc(n + 1))) {
        free(g);
        return NULL;
    }
    memcpy(g->name, name, n + 1);
    return g;
}

flm_status flm_gguf_open_buffer(struct flm_gguf **out, const void *buf, size_t size, struct flm_err *err) {
    if (!out || (!buf && size)) return flm_err_set(err, FLM_ERR_INVALID, "gguf: open_buffer: NULL argument");
    *out = NULL;
    struct flm_gguf *g = new_handle("buffer");
    if (!g) return flm_err_set(err, FLM_ERR_NOMEM, "gguf: buffer: no memory for the handle");
    g->base = buf;
    g->size = size;
    g->avail = size;
    g->own = GGUF_OWN_NONE;
    if (size == 0) {
        flm_gguf_close(g);
        return flm_err_set(err, FLM_ERR_FORMAT, "gguf: buffer: empty (0 bytes), not a GGUF file");
    }
    return finish_open(out, g, err);
}

const char *flm_gguf_errstr(int e, char *buf, size_t n) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n);
#else
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "error %d", e);
    return buf;
#endif
}

static flm_status read_all(int fd, uint8_t *p, uint64_t size, const char *path, struct flm_err *err) {
    uint64_t got = 0;
    while (got < size) {
        size_t chunk = size - got > (1u << 30) ? (1u << 30) : (size_t)(size - got);
        ssize_t r = pread(fd, p + got, chunk, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            char e[128];
            return flm_err_set(err, FLM_ERR_IO, "gguf: %s: read failed at offset %llu: %s", path, (ull)got,
                               flm_gguf_errstr(errno, e, sizeof e));
        }
        if (r == 0)
            return flm_err_set(err, FLM_ERR_IO, "gguf: %s: short read: got %llu of %llu bytes", path, (ull)got,
                               (ull)size);
        got += (uint64_t)r;
    }
    return FLM_OK;
}

// Maps or reads the whole file into g.
static flm_status load_file(struct flm_gguf *g, int fd, const char *path, unsigned flags, struct flm_err *err) {
    struct stat sb;
    char e[128];
    if (fstat(fd, &sb) != 0)
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: cannot stat: %s", path, flm_gguf_errstr(errno, e, sizeof e));
    if (S_ISDIR(sb.st_mode)) return flm_err_set(err, FLM_ERR_IO, "gguf: %s: is a directory, not a file", path);
    if (!S_ISREG(sb.st_mode)) return flm_err_set(err, FLM_ERR_IO, "gguf: %s: not a regular file", path);
    if (sb.st_size == 0) return flm_err_set(err, FLM_ERR_FORMAT, "gguf: %s: empty file (0 bytes), not a GGUF file", path);
    if ((uint64_t)sb.st_size > SIZE_MAX)
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: %llu bytes do not fit in memory", path, (ull)sb.st_size);
    g->size = g->avail = (uint64_t)sb.st_size;
    g->id = (struct flm_gguf_file_id){(uint64_t)sb.st_dev, (uint64_t)sb.st_ino, (uint64_t)sb.st_size,
                                      (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec};
    if (flags & FLM_GGUF_OPEN_HEADER) {
        // metadata only: a prefix (grown by the caller while parsing needs more)
        if (g->avail > g->want_avail) g->avail = g->want_avail;
        uint8_t *p = malloc((size_t)g->avail);
        if (!p) return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: no memory for %llu bytes", path, (ull)g->avail);
        g->base = p;
        g->own = GGUF_OWN_MALLOC;
        g->header_only = true;
        // the page cache counts against budgets: no readahead past the
        // prefix, and what was read is dropped (to the end of the file)
        posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
        flm_status st = read_all(fd, p, g->avail, path, err);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        return st;
    }
    if (flags & FLM_GGUF_OPEN_NO_MMAP) {
        uint8_t *p = malloc((size_t)g->size);
        if (!p) return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: no memory for %llu bytes", path, (ull)g->size);
        g->base = p;
        g->own = GGUF_OWN_MALLOC;
        return read_all(fd, p, g->size, path, err);
    }
    void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: cannot map %llu bytes: %s", path, (ull)g->size,
                           flm_gguf_errstr(errno, e, sizeof e));
    g->base = m;
    g->own = GGUF_OWN_MMAP;
    return FLM_OK;
}

flm_status flm_gguf_open(struct flm_gguf **out, const char *path, unsigned flags, struct flm_err *err) {
    if (!out || !path) return flm_err_set(err, FLM_ERR_INVALID, "gguf: open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char e[128];
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: cannot open: %s", path, flm_gguf_errstr(errno, e, sizeof e));
    }
    // In header mode the prefix grows (x4 from 1 MiB) until the infos parse.
    for (uint64_t want = 1u << 20;; want *= 4) {
        struct flm_gguf *g = new_handle(path);
        if (!g) {
            close(fd);
            return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: no memory for the handle", path);
        }
        g->want_avail = want;
        flm_status st = load_file(g, fd, path, flags, err);
        if (st == FLM_OK) st = parse(g, err);
        if (st == FLM_OK && g->header_only && g->avail > g->data_offset + 65536) {
            want = g->data_offset / 4;  // read again, exactly the header: the prefix stays in memory
            flm_gguf_close(g);
            continue;
        }
        if (st == FLM_OK) {
            close(fd);
            *out = g;
            return FLM_OK;
        }
        bool again = g->want_more && g->avail < g->size;
        flm_gguf_close(g);
        if (!again) {
            close(fd);
            return st;
        }
    }
}

void flm_gguf_close(struct flm_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    free(g->arr_copy);
    if (g->own == GGUF_OWN_MMAP) munmap((void *)g->base, (size_t)g->size);
    if (g->own == GGUF_OWN_MALLOC) free((void *)g->base);
    free(g->name);
    free(g);
}
