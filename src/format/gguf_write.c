// gguf_write.c - builds GGUF v2/v3 files in memory: metadata as it is added,
// tensor data copied, everything laid out on serialization.
//
// The writer refuses (FLM_ERR_INVALID) anything that would make a file the
// reader rejects, so every file it produces opens. Tests make corrupt files
// by patching the bytes of a valid one.
#include "format/gguf_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_MAX_KEY_LEN   65535u
#define GGUF_MAX_NAME_LEN  63u

struct wbuf {
    uint8_t *p;
    size_t   n, cap;
};

struct wtensor {
    char          *name;
    enum flm_type  type;
    uint32_t       n_dims;
    int64_t        ne[FLM_GGUF_MAX_DIMS];
    uint8_t       *data;    // NULL: zeros, or written by the caller (flm_gguf_writer_tensor_info)
    size_t         nbytes;
};

struct flm_gguf_writer {
    uint32_t        version;
    uint32_t        alignment;
    struct wbuf     kv;       // serialized key/value pairs
    uint64_t        n_kv;
    char          **keys;     // for the duplicate check
    struct wtensor *t;
    size_t          n_t, cap_t;
};

// ---------------------------------------------------------------- byte buffer

static bool wbuf_put(struct wbuf *b, const void *src, size_t n) {
    if (n > SIZE_MAX - b->n) return false;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap = cap > SIZE_MAX / 2 ? b->n + n : cap * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
    return true;
}

static bool put_u32(struct wbuf *b, uint32_t v) { return wbuf_put(b, &v, 4); }
static bool put_u64(struct wbuf *b, uint64_t v) { return wbuf_put(b, &v, 8); }
static bool put_str(struct wbuf *b, const char *s, uint64_t len) { return put_u64(b, len) && wbuf_put(b, s, len); }

// ---------------------------------------------------------------- init / free

static bool pow2(uint32_t a) { return a != 0 && (a & (a - 1)) == 0; }

void flm_gguf_writer_free(struct flm_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w->kv.p);
    free(w);
}

flm_status flm_gguf_writer_init(struct flm_gguf_writer **out, uint32_t version, uint32_t alignment) {
    if (!out) return FLM_ERR_INVALID;
    *out = NULL;
    if ((version != 2 && version != 3) || (alignment != 0 && !pow2(alignment))) return FLM_ERR_INVALID;
    struct flm_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return FLM_ERR_NOMEM;
    w->version = version;
    w->alignment = GGUF_DEFAULT_ALIGN;
    if (alignment != 0) {
        flm_status st = flm_gguf_writer_kv_u32(w, "general.alignment", alignment);
        if (st != FLM_OK) {
            flm_gguf_writer_free(w);
            return st;
        }
    }
    *out = w;
    return FLM_OK;
}

// ---------------------------------------------------------------- metadata

// Checks the key and appends it with its value type; the caller appends the
// value and calls kv_end (or kv_undo on failure).
static flm_status kv_begin(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype type, size_t *mark) {
    if (!w || !key) return FLM_ERR_INVALID;
    size_t len = strlen(key);
    if (len == 0 || len > GGUF_MAX_KEY_LEN) return FLM_ERR_INVALID;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return FLM_ERR_INVALID;
    *mark = w->kv.n;
    if (!put_str(&w->kv, key, len) || !put_u32(&w->kv, type)) {
        w->kv.n = *mark;
        return FLM_ERR_NOMEM;
    }
    return FLM_OK;
}

static flm_status kv_end(struct flm_gguf_writer *w, const char *key, size_t mark, bool ok) {
    char **keys = ok ? realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys) : NULL;
    char *copy = keys ? strdup(key) : NULL;
    if (keys) w->keys = keys;
    if (!copy) {
        w->kv.n = mark;
        return FLM_ERR_NOMEM;
    }
    w->keys[w->n_kv++] = copy;
    return FLM_OK;
}

static flm_status kv_scalar(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype type, const void *v,
                            size_t n) {
    size_t mark;
    flm_status st = kv_begin(w, key, type, &mark);
    if (st != FLM_OK) return st;
    return kv_end(w, key, mark, wbuf_put(&w->kv, v, n));
}

// general.alignment decides the layout, so it may only be written as a u32
// power of two (and then is used for the layout).
static bool is_align_key(const char *key) { return key && strcmp(key, "general.alignment") == 0; }

flm_status flm_gguf_writer_kv_u32(struct flm_gguf_writer *w, const char *key, uint32_t v) {
    bool is_align = is_align_key(key);
    if (is_align && !pow2(v)) return FLM_ERR_INVALID;
    flm_status st = kv_scalar(w, key, FLM_GGUF_UINT32, &v, 4);
    if (st == FLM_OK && is_align) w->alignment = v;
    return st;
}

flm_status flm_gguf_writer_kv_i32(struct flm_gguf_writer *w, const char *key, int32_t v) {
    if (is_align_key(key)) return FLM_ERR_INVALID;
    return kv_scalar(w, key, FLM_GGUF_INT32, &v, 4);
}

flm_status flm_gguf_writer_kv_f32(struct flm_gguf_writer *w, const char *key, float v) {
    if (is_align_key(key)) return FLM_ERR_INVALID;
    return kv_scalar(w, key, FLM_GGUF_FLOAT32, &v, 4);
}

flm_status flm_gguf_writer_kv_bool(struct flm_gguf_writer *w, const char *key, bool v) {
    if (is_align_key(key)) return FLM_ERR_INVALID;
    uint8_t b = v ? 1 : 0;
    return kv_scalar(w, key, FLM_GGUF_BOOL, &b, 1);
}

flm_status flm_gguf_writer_kv_scalar(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype type,
                                     const void *v) {
    size_t n = flm_gguf_vtype_size(type);
    if (n == 0 || !v) return FLM_ERR_INVALID;
    if (type == FLM_GGUF_UINT32) {
        uint32_t u;
        memcpy(&u, v, 4);
        return flm_gguf_writer_kv_u32(w, key, u);
    }
    if (is_align_key(key) || (type == FLM_GGUF_BOOL && *(const uint8_t *)v > 1)) return FLM_ERR_INVALID;
    return kv_scalar(w, key, type, v, n);
}

flm_status flm_gguf_writer_kv_str(struct flm_gguf_writer *w, const char *key, const char *v) {
    if (is_align_key(key) || !v) return FLM_ERR_INVALID;
    size_t mark;
    flm_status st = kv_begin(w, key, FLM_GGUF_STRING, &mark);
    if (st != FLM_OK) return st;
    return kv_end(w, key, mark, put_str(&w->kv, v, strlen(v)));
}

flm_status flm_gguf_writer_kv_arr(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype elem,
                                  const void *data, uint64_t n) {
    size_t esz = flm_gguf_vtype_size(elem), mark;
    if (is_align_key(key) || esz == 0 || (!data && n) || n > SIZE_MAX / esz) return FLM_ERR_INVALID;
    if (elem == FLM_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1) return FLM_ERR_INVALID;
    flm_status st = kv_begin(w, key, FLM_GGUF_ARRAY, &mark);
    if (st != FLM_OK) return st;
    bool ok = put_u32(&w->kv, elem) && put_u64(&w->kv, n) && wbuf_put(&w->kv, data, (size_t)(n * esz));
    return kv_end(w, key, mark, ok);
}

flm_status flm_gguf_writer_kv_arr_str(struct flm_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (is_align_key(key) || (!v && n)) return FLM_ERR_INVALID;
    for (uint64_t i = 0; i < n; i++)
        if (!v[i]) return FLM_ERR_INVALID;
    size_t mark;
    flm_status st = kv_begin(w, key, FLM_GGUF_ARRAY, &mark);
    if (st != FLM_OK) return st;
    bool ok = put_u32(&w->kv, FLM_GGUF_STRING) && put_u64(&w->kv, n);
    for (uint64_t i = 0; ok && i < n; i++) ok = put_str(&w->kv, v[i], strlen(v[i]));
    return kv_end(w, key, mark, ok);
}

// Bytes of key/value pair i's value as it sits in the file after its type:
// the scalar, the string with its length, or the array with its element type
// and length. The reader has bounds-checked all of it.
static void kv_value_span(const struct flm_gguf *g, int64_t i, const uint8_t **start, size_t *n) {
    const struct gguf_kv *kv = &g->kv[i];
    const uint8_t *end;
    uint64_t len;
    if (kv->type == FLM_GGUF_STRING) {
        memcpy(&len, kv->val, 8);
        *start = kv->val;
        end = kv->val + 8 + len;
    } else if (kv->type != FLM_GGUF_ARRAY) {
        *start = kv->val;
        end = kv->val + flm_gguf_vtype_size(kv->type);
    } else {
        *start = kv->val - 12;  // u32 element type, u64 length
        if (kv->arr_type != FLM_GGUF_STRING) {
            end = kv->val + kv->arr_len * flm_gguf_vtype_size(kv->arr_type);
        } else if (kv->arr_len == 0) {
            end = kv->val;
        } else {
            const uint64_t last = kv->str_off[kv->arr_len - 1];
            memcpy(&len, g->base + last, 8);
            end = g->base + last + 8 + len;
        }
    }
    *n = (size_t)(end - *start);
}

flm_status flm_gguf_writer_kv_copy(struct flm_gguf_writer *w, const struct flm_gguf *g, int64_t i) {
    if (!w || !g || i < 0 || i >= g->n_kv) return FLM_ERR_INVALID;
    const struct gguf_kv *kv = &g->kv[i];
    char *key = malloc(kv->key.len + 1);
    if (!key) return FLM_ERR_NOMEM;
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = '\0';
    flm_status st;
    if (memchr(key, '\0', kv->key.len)) {
        st = FLM_ERR_INVALID;  // a key with a NUL byte cannot be named again
    } else if (is_align_key(key) && kv->type == FLM_GGUF_UINT32) {
        uint32_t a;
        memcpy(&a, kv->val, 4);
        st = flm_gguf_writer_kv_u32(w, key, a);  // sets the layout's alignment
    } else {
        const uint8_t *start;
        size_t n, mark;
        kv_value_span(g, i, &start, &n);
        st = kv_begin(w, key, kv->type, &mark);
        if (st == FLM_OK) st = kv_end(w, key, mark, wbuf_put(&w->kv, start, n));
    }
    free(key);
    return st;
}

// ---------------------------------------------------------------- tensors

// Bytes of a tensor of this shape, or SIZE_MAX when the shape is invalid.
static size_t shape_bytes(enum flm_type type, uint32_t n_dims, const int64_t *ne) {
    const struct flm_type_layout *l = flm_type_layout((uint32_t)type);
    if (!l || n_dims < 1 || n_dims > FLM_GGUF_MAX_DIMS || !ne) return SIZE_MAX;
    uint64_t prod = 1;
    bool zero = false;
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] < 0) return SIZE_MAX;
        if (ne[j] == 0) zero = true;
        else if (prod > (uint64_t)INT64_MAX / (uint64_t)ne[j]) return SIZE_MAX;
        else prod *= (uint64_t)ne[j];
    }
    if (ne[0] % l->blck_size != 0) return SIZE_MAX;
    if (zero) return 0;
    uint64_t per_row = (uint64_t)(ne[0] / l->blck_size), rows = prod / (uint64_t)ne[0];
    if (per_row > UINT64_MAX / l->type_size || per_row * l->type_size > (SIZE_MAX - 1) / rows) return SIZE_MAX;
    return (size_t)(per_row * l->type_size * rows);
}

// Adds a tensor; with copy its bytes are copied from data (zeros when NULL),
// without copy the caller writes them after flm_gguf_writer_meta_to_buffer.
static flm_status add_tensor(struct flm_gguf_writer *w, const char *name, enum flm_type type, uint32_t n_dims,
                             const int64_t *ne, const void *data, size_t nbytes, bool copy) {
    if (!w || !name) return FLM_ERR_INVALID;
    size_t len = strlen(name);
    if (len == 0 || len > GGUF_MAX_NAME_LEN || shape_bytes(type, n_dims, ne) != nbytes) return FLM_ERR_INVALID;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return FLM_ERR_INVALID;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        struct wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return FLM_ERR_NOMEM;
        w->t = t;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = nbytes && copy ? malloc(nbytes) : NULL;
    if (!t->name || (nbytes && copy && !t->data)) {
        free(t->name);
        free(t->data);
        return FLM_ERR_NOMEM;
    }
    if (nbytes && copy) {
        if (data) memcpy(t->data, data, nbytes);
        else memset(t->data, 0, nbytes);
    }
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t j = 0; j < FLM_GGUF_MAX_DIMS; j++) t->ne[j] = j < n_dims ? ne[j] : 1;
    t->nbytes = nbytes;
    w->n_t++;
    return FLM_OK;
}

flm_status flm_gguf_writer_tensor(struct flm_gguf_writer *w, const char *name, enum flm_type type,
                                  uint32_t n_dims, const int64_t *ne, const void *data, size_t nbytes) {
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, true);
}

flm_status flm_gguf_writer_tensor_info(struct flm_gguf_writer *w, const char *name, enum flm_type type,
                                       uint32_t n_dims, const int64_t *ne) {
    size_t nbytes = shape_bytes(type, n_dims, ne);
    if (nbytes == SIZE_MAX) return FLM_ERR_INVALID;
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, false);
}

uint32_t flm_gguf_writer_alignment(const struct flm_gguf_writer *w) { return w ? w->alignment : 0; }

// ---------------------------------------------------------------- serialization

// mkstemp makes the file 0600; a model file is 0644 less the umask, as fopen would make it.
static int fchmod_path(const char *p) {
    mode_t um = umask(0);
    umask(um);
    return chmod(p, 0666 & ~um);
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Serializes the header, metadata, tensor infos and the padding before the
// data section, and with data also the tensors' bytes, into one new buffer.
static flm_status serialize(struct flm_gguf_writer *w, bool data_too, void **buf, size_t *size) {
    if (!w || !buf || !size) return FLM_ERR_INVALID;
    *buf = NULL;
    *size = 0;
    const uint64_t a = w->alignment;
    uint64_t info = 0, data = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        info += 8 + strlen(w->t[i].name) + 4 + 8ull * w->t[i].n_dims + 4 + 8;
        data += pad_to(w->t[i].nbytes, a);
    }
    uint64_t head = pad_to(24 + w->kv.n + info, a), total = data_too ? head + data : head;
    if (total > SIZE_MAX || total < head) return FLM_ERR_NOMEM;
    struct wbuf b = {0};
    if (!(b.p = calloc(1, (size_t)total))) return FLM_ERR_NOMEM;
    b.cap = (size_t)total;
    // within the capacity reserved above, so none of these can fail
    wbuf_put(&b, "GGUF", 4);
    put_u32(&b, w->version);
    put_u64(&b, w->n_t);
    put_u64(&b, w->n_kv);
    wbuf_put(&b, w->kv.p, w->kv.n);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        put_str(&b, t->name, strlen(t->name));
        put_u32(&b, t->n_dims);
        for (uint32_t j = 0; j < t->n_dims; j++) put_u64(&b, (uint64_t)t->ne[j]);
        put_u32(&b, (uint32_t)t->type);
        put_u64(&b, off);
        off += pad_to(t->nbytes, a);
    }
    off = head;
    for (size_t i = 0; data_too && i < w->n_t; i++) {
        if (w->t[i].data) memcpy(b.p + off, w->t[i].data, w->t[i].nbytes);
        off += pad_to(w->t[i].nbytes, a);
    }
    *buf = b.p;
    *size = (size_t)total;
    return FLM_OK;
}

flm_status flm_gguf_writer_to_buffer(struct flm_gguf_writer *w, void **buf, size_t *size) {
    return serialize(w, true, buf, size);
}

flm_status flm_gguf_writer_meta_to_buffer(struct flm_gguf_writer *w, void **buf, size_t *size) {
    return serialize(w, false, buf, size);
}

flm_status flm_gguf_writer_to_file(struct flm_gguf_writer *w, const char *path, struct flm_err *err) {
    if (!path) return flm_err_set(err, FLM_ERR_INVALID, "gguf: writer: NULL path");
    void *buf;
    size_t size;
    flm_status st = flm_gguf_writer_to_buffer(w, &buf, &size);
    if (st != FLM_OK) return flm_err_set(err, st, "gguf: %s: cannot serialize: %s", path, flm_status_str(st));
    // a temporary file beside the target, renamed over it only when complete
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(buf);
        return flm_err_set(err, FLM_ERR_NOMEM, "gguf: %s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    char e[128];
    if (fd < 0) {
        const char *why = flm_gguf_errstr(errno, e, sizeof e);
        free(tmp);
        free(buf);
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: cannot create a temporary file beside it: %s", path, why);
    }
    const char *what = NULL;
    for (size_t done = 0; !what && done < size;) {
        ssize_t k = write(fd, (const char *)buf + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) what = "write";
        else done += (size_t)k;
    }
    int saved = errno;
    if (!what && fsync(fd) != 0) what = "fsync", saved = errno;
    if (close(fd) != 0 && !what) what = "close", saved = errno;
    if (!what && fchmod_path(tmp) != 0) what = "chmod", saved = errno;
    if (!what && rename(tmp, path) != 0) what = "rename", saved = errno;
    free(buf);
    if (what) {
        unlink(tmp);
        free(tmp);
        return flm_err_set(err, FLM_ERR_IO, "gguf: %s: %s failed (%zu bytes): %s", path, what, size,
                           flm_gguf_errstr(saved, e, sizeof e));
    }
    free(tmp);
    return FLM_OK;
}
