// quantize.c - flm_quantize: a GGUF model rewritten with its tensors
// converted to a llama.cpp file type, the way llama_model_quantize does it.
//
// The steps, each undone in reverse on failure:
//   1. refuse an output that is the input (same device and inode, so links
//      count) or a folder, before anything is opened for writing;
//   2. open and validate the input (format/gguf.c checks every offset);
//   3. visit the tensors in llama.cpp's order and choose each one's type
//      (convert/quant_mix.c);
//   4. build the metadata: the input's key/value pairs in their order, minus
//      general.quantization_version, general.file_type and the split keys,
//      then those two set (2, the file type), as llama.cpp's gguf_set_val
//      moves a replaced key to the end;
//   5. stream the tensors into a temporary file (convert/outfile.c), in
//      batches of rows spread over a thread pool: dequantize a row to floats
//      (if it is not F32), quantize it with the reference quantizer of the
//      target type (src/quant), check input and output for non-finite values
//      as llama.cpp does; tensors already of their target type are copied;
//   6. flush and rename the temporary file over the output.
// Memory: one batch (about 4M elements) of output plus a row of floats per
// thread; the input is mapped, never copied.
#include "convert/outfile.h"
#include "convert/quant_mix.h"
#include "core/status.h"
#include "core/threads.h"
#include "flashlm.h"
#include "format/gguf.h"
#include "quant/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GGML_QNT_VERSION 2              // general.quantization_version llama.cpp writes
#define BATCH_ELEMENTS   (1 << 22)      // elements converted per parallel step

typedef unsigned long long ull;

struct flm_quantize_params flm_quantize_params_default(void) {
    return (struct flm_quantize_params){.type = "Q8_0"};
}

const char *flm_quantize_type_name(int i, const char **desc) {
    const struct flm_ftype_info *f = flm_ftype_at(i);
    if (desc) *desc = f ? f->desc : NULL;
    return f ? f->name : NULL;
}

// ---------------------------------------------------------------- paths

static flm_status check_paths(const char *in, const char *out, struct flm_err *err) {
    struct stat si, so;
    if (stat(in, &si) != 0) {
        int e = errno;
        return flm_err_set(err, FLM_ERR_IO, "quantize: cannot open input '%s': %s", in, strerror(e));
    }
    if (stat(out, &so) != 0) return FLM_OK;  // a new file
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return flm_err_set(err, FLM_ERR_INVALID, "quantize: output '%s' is the input file '%s' (same inode); "
                                                 "write to another path", out, in);
    if (S_ISDIR(so.st_mode))
        return flm_err_set(err, FLM_ERR_INVALID, "quantize: output '%s' is a directory", out);
    if (!S_ISREG(so.st_mode))
        return flm_err_set(err, FLM_ERR_INVALID, "quantize: output '%s' exists and is not a regular file", out);
    return FLM_OK;
}

// ---------------------------------------------------------------- model facts

// An integer key, or the first element of an integer array (per-layer
// values); def when absent.
static flm_status get_int(const struct flm_gguf *g, const char *arch, const char *suffix, int32_t def, int32_t *out,
                          struct flm_err *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = flm_gguf_find_key(g, key);
    *out = def;
    if (i < 0) return FLM_OK;
    if (flm_gguf_kv_type(g, i) != FLM_GGUF_ARRAY) return flm_gguf_get_i32(g, key, out, err);
    enum flm_gguf_vtype et = flm_gguf_arr_type(g, i);
    if (flm_gguf_arr_len(g, i) == 0 || (et != FLM_GGUF_INT32 && et != FLM_GGUF_UINT32))
        return flm_err_set(err, FLM_ERR_FORMAT, "quantize: key '%s' is an empty or non-integer array", key);
    memcpy(out, flm_gguf_arr_data(g, i), 4);
    return *out < 0 ? flm_err_set(err, FLM_ERR_FORMAT, "quantize: key '%s' has value %d", key, *out) : FLM_OK;
}

static flm_status read_model(const struct flm_gguf *g, char arch[64], struct flm_mix_model *m, struct flm_err *err) {
    struct flm_gguf_str s;
    flm_status st = flm_gguf_get_str(g, "general.architecture", &s, err);
    if (st != FLM_OK) return st;
    if (s.len == 0 || s.len >= 64 || memchr(s.ptr, '\0', s.len))
        return flm_err_set(err, FLM_ERR_FORMAT, "quantize: general.architecture has a bad length %llu", (ull)s.len);
    memcpy(arch, s.ptr, s.len);
    arch[s.len] = '\0';
    memset(m, 0, sizeof *m);
    m->arch = arch;
    char key[96];
    snprintf(key, sizeof key, "%s.block_count", arch);
    if (flm_gguf_find_key(g, key) < 0)
        return flm_err_set(err, FLM_ERR_FORMAT, "quantize: the model has no '%s' key", key);
    if ((st = get_int(g, arch, "block_count", 0, &m->n_layer, err)) != FLM_OK) return st;
    if ((st = get_int(g, arch, "attention.head_count", 0, &m->n_head, err)) != FLM_OK) return st;
    if ((st = get_int(g, arch, "attention.head_count_kv", m->n_head, &m->n_head_kv, err)) != FLM_OK) return st;
    return get_int(g, arch, "expert_count", 0, &m->n_expert, err);
}

// ---------------------------------------------------------------- plan

struct item {
    const struct flm_gguf_tensor *in;
    struct flm_mix_tensor         mt;
    char                          name[64];
    enum flm_type                 to;
};

static int item_cmp(const void *a, const void *b) {
    return flm_mix_name_cmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

static flm_status make_items(const struct flm_gguf *g, struct item **out, int64_t *n_out, struct flm_err *err) {
    const int64_t n = flm_gguf_n_tensors(g);
    struct item *it = calloc(n > 0 ? (size_t)n : 1, sizeof *it);
    if (!it) return flm_err_set(err, FLM_ERR_NOMEM, "quantize: no memory for %lld tensors", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        if (t->name.len >= sizeof it[i].name || memchr(t->name.ptr, '\0', t->name.len)) {
            free(it);
            return flm_err_set(err, FLM_ERR_FORMAT, "quantize: tensor %lld has a name with a NUL byte", (long long)i);
        }
        memcpy(it[i].name, t->name.ptr, t->name.len);
        it[i].in = t;
        it[i].mt.name = it[i].name;
        it[i].mt.type = t->type;
        it[i].mt.n_dims = 1;
        for (int d = 0; d < FLM_GGUF_MAX_DIMS; d++) {
            it[i].mt.ne[d] = t->ne[d];
            if (t->ne[d] != 1) it[i].mt.n_dims = (uint32_t)d + 1;
        }
    }
    qsort(it, (size_t)n, sizeof *it, item_cmp);
    for (int64_t i = 0; i < n; i++) it[i].mt.name = it[i].name;  // qsort moved the names
    *out = it;
    *n_out = n;
    return FLM_OK;
}

static flm_status plan(const struct flm_gguf *g, const struct flm_ftype_info *fi, struct item *it, int64_t n,
                       struct flm_err *err) {
    char arch[64];
    struct flm_mix_model m;
    flm_status st = read_model(g, arch, &m, err);
    struct flm_mix_tensor *mt = malloc((size_t)(n > 0 ? n : 1) * sizeof *mt);
    enum flm_type *to = malloc((size_t)(n > 0 ? n : 1) * sizeof *to);
    if (st == FLM_OK && (!mt || !to)) st = flm_err_set(err, FLM_ERR_NOMEM, "quantize: no memory for the plan");
    for (int64_t i = 0; st == FLM_OK && i < n; i++) mt[i] = it[i].mt;
    if (st == FLM_OK) st = flm_mix_plan(&m, fi->ftype, mt, n, to, err);
    for (int64_t i = 0; st == FLM_OK && i < n; i++) {
        it[i].to = to[i];
        if (to[i] != it[i].in->type && !flm_quant_traits(it[i].in->type))
            st = flm_err_set(err, FLM_ERR_UNSUPPORTED, "quantize: tensor '%s' of type %s cannot be converted",
                             it[i].name, flm_type_layout(it[i].in->type)->name);
        else if (to[i] != it[i].in->type && !flm_quant_traits(to[i]))
            st = flm_err_set(err, FLM_ERR_UNSUPPORTED, "quantize: no quantizer for type %s (tensor '%s')",
                             flm_type_layout(to[i])->name, it[i].name);
    }
    free(mt);
    free(to);
    return st;
}

// ---------------------------------------------------------------- metadata

static bool replaced_key(struct flm_gguf_str k) {
    static const char *const keys[] = {"general.quantization_version", "general.file_type", "split.no",
                                       "split.count", "split.tensors.count"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (k.len == strlen(keys[i]) && !memcmp(k.ptr, keys[i], k.len)) return true;
    return false;
}

static flm_status make_header(const struct flm_gguf *g, const struct flm_ftype_info *fi, const struct item *it,
                              int64_t n, struct flm_gguf_writer **out, struct flm_err *err) {
    struct flm_gguf_writer *w;
    flm_status st = flm_gguf_writer_init(&w, 3, 0);
    if (st != FLM_OK) return flm_err_set(err, st, "quantize: cannot start the output's metadata");
    const char *what = "key";
    int64_t bad = -1;
    for (int64_t i = 0; st == FLM_OK && i < flm_gguf_n_kv(g); i++)
        if (!replaced_key(flm_gguf_key(g, i)) && (st = flm_gguf_writer_kv_copy(w, g, i)) != FLM_OK) bad = i;
    if (st == FLM_OK) st = flm_gguf_writer_kv_u32(w, "general.quantization_version", GGML_QNT_VERSION);
    if (st == FLM_OK) st = flm_gguf_writer_kv_u32(w, "general.file_type", (uint32_t)fi->ftype);
    for (int64_t i = 0; st == FLM_OK && i < n; i++)
        if ((st = flm_gguf_writer_tensor_info(w, it[i].name, it[i].to, it[i].mt.n_dims, it[i].mt.ne)) != FLM_OK) {
            what = "tensor";
            bad = i;
        }
    if (st != FLM_OK) {
        flm_gguf_writer_free(w);
        if (bad >= 0 && what[0] == 't')
            return flm_err_set(err, st, "quantize: cannot declare tensor '%s' as %s: %s", it[bad].name,
                               flm_type_layout(it[bad].to)->name, flm_status_str(st));
        if (bad >= 0) {
            struct flm_gguf_str k = flm_gguf_key(g, bad);
            return flm_err_set(err, st, "quantize: cannot copy key '%.*s': %s", (int)(k.len > 200 ? 200 : k.len),
                               k.ptr, flm_status_str(st));
        }
        return flm_err_set(err, st, "quantize: cannot build the output's metadata: %s", flm_status_str(st));
    }
    *out = w;
    return FLM_OK;
}

// ---------------------------------------------------------------- conversion

struct work {
    // the tensor
    const struct item           *it;
    const struct flm_type_traits *from, *to;  // to NULL: copy (validate only)
    size_t                        in_row, out_row;
    int64_t                       ne0;
    // the batch
    int64_t  row0, n_rows;
    uint8_t *dst;      // n_rows * out_row bytes
    float   *scratch;  // ne0 floats per thread
    int64_t *bad_in, *bad_out;  // per thread: first bad row (absolute), -1 when none
};

static void convert_rows(void *arg, int ith, int nth) {
    struct work *w = arg;
    long lo, hi;
    flm_split((long)w->n_rows, ith, nth, &lo, &hi);
    float *f = w->scratch + (size_t)ith * (size_t)w->ne0;
    const enum flm_type tin = w->it->in->type;
    for (long r = lo; r < hi; r++) {
        const int64_t row = w->row0 + r;
        const uint8_t *x = (const uint8_t *)w->it->in->data + (size_t)row * w->in_row;
        if (flm_quant_find_nonfinite(tin, x, w->ne0) >= 0) {
            w->bad_in[ith] = row;
            return;
        }
        if (!w->to) continue;
        const float *fx = f;
        if (tin == FLM_TYPE_F32) fx = (const float *)(const void *)x;
        else w->from->to_float(x, f, w->ne0);
        uint8_t *y = w->dst + (size_t)r * w->out_row;
        w->to->from_float(fx, y, w->ne0);
        if (flm_quant_find_nonfinite(w->to->type, y, w->ne0) >= 0) {
            w->bad_out[ith] = row;
            return;
        }
    }
}

static int64_t first_bad(const int64_t *v, int n) {
    int64_t b = -1;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0 && (b < 0 || v[i] < b)) b = v[i];
    return b;
}

struct run {
    const char                       *in_path;
    struct flm_pool                  *pool;
    struct flm_outfile               *of;
    const struct flm_quantize_params *p;
    uint32_t                          align;
    uint64_t                          done, total;
    int64_t                           n_tensors;
    uint8_t                          *dst;
    float                            *scratch;
    int64_t                          *bad;  // 2 * pool size
};

static flm_status write_tensor(struct run *r, const struct item *it, int64_t idx, struct flm_err *err) {
    const struct flm_gguf_tensor *t = it->in;
    const int nth = flm_pool_size(r->pool);
    const int64_t ne0 = t->ne[0] > 0 ? t->ne[0] : 1;
    const int64_t rows = t->nbytes ? (int64_t)(t->nbytes / flm_type_row_size(t->type, ne0)) : 0;
    struct work w = {.it = it, .ne0 = ne0, .in_row = flm_type_row_size(t->type, ne0),
                     .out_row = flm_type_row_size(it->to, ne0), .dst = r->dst, .scratch = r->scratch,
                     .bad_in = r->bad, .bad_out = r->bad + nth};
    if (it->to != t->type) {
        w.from = flm_quant_traits(t->type);
        w.to = flm_quant_traits(it->to);
    }
    const int64_t batch = ne0 >= BATCH_ELEMENTS ? 1 : BATCH_ELEMENTS / ne0;
    flm_status st = FLM_OK;
    for (w.row0 = 0; st == FLM_OK && w.row0 < rows; w.row0 += w.n_rows) {
        w.n_rows = rows - w.row0 < batch ? rows - w.row0 : batch;
        for (int i = 0; i < 2 * nth; i++) r->bad[i] = -1;
        flm_pool_run(r->pool, convert_rows, &w);
        int64_t bi = first_bad(w.bad_in, nth), bo = first_bad(w.bad_out, nth);
        if (bi >= 0)
            return flm_err_set(err, FLM_ERR_FORMAT, "quantize: %s: tensor '%s' (%s) row %lld holds a non-finite value",
                               r->in_path, it->name, flm_type_layout(t->type)->name, (long long)bi);
        if (bo >= 0)
            return flm_err_set(err, FLM_ERR_FORMAT,
                               "quantize: tensor '%s' row %lld gives a non-finite value or scale as %s "
                               "(values too large for the type)",
                               it->name, (long long)bo, flm_type_layout(it->to)->name);
        const void *bytes = w.to ? (const void *)w.dst : (const uint8_t *)t->data + (size_t)w.row0 * w.in_row;
        st = flm_outfile_write(r->of, bytes, (size_t)w.n_rows * (w.to ? w.out_row : w.in_row), err);
        r->done += (uint64_t)w.n_rows * w.in_row;
        if (st == FLM_OK && r->p->on_progress &&
            !r->p->on_progress(r->p->user, idx, r->n_tensors, r->done, r->total))
            st = flm_err_set(err, FLM_ERR_CANCELLED, "quantize: cancelled");
    }
    const size_t size = (size_t)rows * (w.to ? w.out_row : w.in_row);
    const size_t pad = (size_t)((r->align - size % r->align) % r->align);
    if (st == FLM_OK) st = flm_outfile_write(r->of, NULL, pad, err);
    return st;
}

// Scratch for the largest batch: output bytes and one row of floats per thread.
static flm_status alloc_scratch(struct run *r, const struct item *it, int64_t n, struct flm_err *err) {
    size_t out_max = 1, ne0_max = 1;
    for (int64_t i = 0; i < n; i++) {
        if (it[i].to == it[i].in->type) continue;
        const int64_t ne0 = it[i].in->ne[0] > 0 ? it[i].in->ne[0] : 1;
        const int64_t rows = (int64_t)(it[i].in->nbytes / flm_type_row_size(it[i].in->type, ne0));
        const int64_t batch = ne0 >= BATCH_ELEMENTS ? 1 : BATCH_ELEMENTS / ne0;
        const size_t out = (size_t)(rows < batch ? rows : batch) * flm_type_row_size(it[i].to, ne0);
        if (out > out_max) out_max = out;
        if ((size_t)ne0 > ne0_max) ne0_max = (size_t)ne0;
    }
    const size_t nth = (size_t)flm_pool_size(r->pool);
    r->dst = malloc(out_max);
    r->scratch = ne0_max <= SIZE_MAX / sizeof(float) / nth ? malloc(ne0_max * nth * sizeof(float)) : NULL;
    r->bad = malloc(2 * nth * sizeof *r->bad);
    if (!r->dst || !r->scratch || !r->bad)
        return flm_err_set(err, FLM_ERR_NOMEM, "quantize: no memory for a batch of %zu bytes", out_max);
    return FLM_OK;
}

static flm_status write_all(struct run *r, struct flm_gguf_writer *w, const struct item *it, int64_t n,
                            struct flm_err *err) {
    void *meta;
    size_t meta_size;
    flm_status st = flm_gguf_writer_meta_to_buffer(w, &meta, &meta_size);
    if (st != FLM_OK) return flm_err_set(err, st, "quantize: cannot serialize the metadata");
    st = flm_outfile_write(r->of, meta, meta_size, err);
    free(meta);
    for (int64_t i = 0; st == FLM_OK && i < n; i++) st = write_tensor(r, &it[i], i, err);
    return st;
}

// ---------------------------------------------------------------- entry

flm_status flm_quantize(const char *in_path, const char *out_path, const struct flm_quantize_params *params,
                        struct flm_err *err) {
    if (!in_path || !out_path || !params)
        return flm_err_set(err, FLM_ERR_INVALID, "quantize: NULL input, output or parameters");
    const struct flm_ftype_info *fi = flm_ftype_find(params->type);
    if (!fi) return flm_err_set(err, FLM_ERR_UNSUPPORTED, "quantize: unknown target type '%s' "
                                "(see 'flashlm quantize --help' for the types offered)",
                                params->type ? params->type : "(null)");
    flm_status st = check_paths(in_path, out_path, err);
    if (st != FLM_OK) return st;
    struct flm_gguf *g = NULL;
    struct item *it = NULL;
    struct flm_gguf_writer *w = NULL;
    struct run r = {.in_path = in_path, .p = params};
    int64_t n = 0;
    if ((st = flm_gguf_open(&g, in_path, 0, err)) != FLM_OK) goto done;
    if ((st = make_items(g, &it, &n, err)) != FLM_OK) goto done;
    if ((st = plan(g, fi, it, n, err)) != FLM_OK) goto done;
    if ((st = make_header(g, fi, it, n, &w, err)) != FLM_OK) goto done;
    if ((st = flm_pool_init(&r.pool, params->n_threads, err)) != FLM_OK) goto done;
    if ((st = alloc_scratch(&r, it, n, err)) != FLM_OK) goto done;
    for (int64_t i = 0; i < n; i++) r.total += it[i].in->nbytes;
    r.n_tensors = n;
    r.align = flm_gguf_writer_alignment(w);
    if ((st = flm_outfile_open(&r.of, out_path, err)) != FLM_OK) goto done;
    st = write_all(&r, w, it, n, err);
    if (st == FLM_OK) {
        st = flm_outfile_commit(r.of, err);
        r.of = NULL;
    }
done:
    flm_outfile_abort(r.of);
    free(r.bad);
    free(r.scratch);
    free(r.dst);
    flm_pool_free(r.pool);
    flm_gguf_writer_free(w);
    free(it);
    flm_gguf_close(g);
    return st;
}
