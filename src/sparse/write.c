// write.c - a copy of a model file with activation thresholds added.
#include "sparse/sparse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool is_sparse_key(struct flm_gguf_str k) {
    static const char pre[] = "flashlm.sparsity.";
    return k.len >= sizeof pre - 1 && memcmp(k.ptr, pre, sizeof pre - 1) == 0;
}

static const char *const method_names[] = {
    [FLM_SPARSE_CHESS] = "chess", [FLM_SPARSE_PER_LAYER] = "cats", [FLM_SPARSE_CHESS_DOWN] = "chess-down",
    [FLM_SPARSE_GLOBAL] = "global", [FLM_SPARSE_CHESS_COND] = "chess-cond"};

const char *flm_sparse_method_name(enum flm_sparse_method m) {
    return (unsigned)m < sizeof method_names / sizeof *method_names ? method_names[m] : "?";
}

int flm_sparse_method_parse(const char *s) {
    for (int m = 0; s && m < (int)(sizeof method_names / sizeof *method_names); m++)
        if (!strcmp(s, method_names[m])) return m;
    return -1;
}

flm_status flm_sparse_check_output(const char *src_path, const char *path, struct flm_err *err) {
    struct stat a, b;
    if (stat(src_path, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return flm_err_set(err, FLM_ERR_INVALID, "sparse: output %s is the input file %s: refusing to overwrite it",
                           path, src_path);
    return FLM_OK;
}

static flm_status copy_all(struct flm_gguf_writer *w, const struct flm_gguf *src, struct flm_err *err) {
    for (int64_t i = 0; i < flm_gguf_n_kv(src); i++) {
        struct flm_gguf_str k = flm_gguf_key(src, i);
        if (is_sparse_key(k)) continue;
        flm_status st = flm_gguf_writer_kv_copy(w, src, i);
        if (st) return flm_err_set(err, st, "sparse: cannot copy key '%.*s': %s", (int)(k.len > 64 ? 64 : k.len), k.ptr,
                                   flm_status_str(st));
    }
    for (int64_t i = 0; i < flm_gguf_n_tensors(src); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(src, i);
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
        flm_status st = flm_gguf_writer_tensor(w, nm, t->type, t->n_dims, t->ne, t->data, t->nbytes);
        if (st) return flm_err_set(err, st, "sparse: cannot copy tensor '%s': %s", nm, flm_status_str(st));
    }
    return FLM_OK;
}

flm_status flm_sparse_write(const struct flm_gguf *src, const char *src_path, const char *path,
                            enum flm_sparse_method method, const float *levels, int32_t n_levels, int32_t n_layer,
                            int64_t n_ff, uint32_t n_tokens, const float *thr, struct flm_err *err) {
    flm_status st = flm_sparse_check_output(src_path, path, err);
    if (st) return st;
    if (n_levels < 1 || n_levels > FLM_SPARSE_MAX_LEVELS)
        return flm_err_set(err, FLM_ERR_INVALID, "sparse: %d levels, expected 1..%d", n_levels, FLM_SPARSE_MAX_LEVELS);
    struct flm_gguf_writer *w;
    // the source's alignment comes with its general.alignment key, if any
    if ((st = flm_gguf_writer_init(&w, flm_gguf_version(src), 0)))
        return flm_err_set(err, st, "sparse: cannot start a GGUF writer");
    st = copy_all(w, src, err);
    if (st == FLM_OK &&
        (flm_gguf_writer_kv_arr(w, FLM_SPARSE_KEY_LEVELS, FLM_GGUF_FLOAT32, levels, (uint64_t)n_levels) ||
         flm_gguf_writer_kv_str(w, FLM_SPARSE_KEY_METHOD, flm_sparse_method_name(method)) ||
         flm_gguf_writer_kv_u32(w, FLM_SPARSE_KEY_TOKENS, n_tokens)))
        st = flm_err_set(err, FLM_ERR_NOMEM, "sparse: cannot add the sparsity keys");
    for (int32_t il = 0; st == FLM_OK && il < n_layer; il++) {
        char key[64];
        snprintf(key, sizeof key, "%s%d", FLM_SPARSE_KEY_THR, il);
        const uint64_t n = (uint64_t)n_ff * (uint64_t)n_levels;
        flm_status s2 = flm_gguf_writer_kv_arr(w, key, FLM_GGUF_FLOAT32, thr + (size_t)il * (size_t)n, n);
        if (s2) st = flm_err_set(err, s2, "sparse: cannot add key '%s'", key);
    }
    if (st == FLM_OK) st = flm_gguf_writer_to_file(w, path, err);
    flm_gguf_writer_free(w);
    return st;
}
