// bundle.c - row-column bundles: each FFN neuron's up row and down column in
// one contiguous row of a new tensor (see sparse.h).
#include "sparse/sparse.h"

#include "quant/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t flm_sparse_bundle_bytes(enum flm_type up_type, enum flm_type down_type, int64_t n_embd) {
    const size_t n = flm_type_row_size(up_type, n_embd) + flm_type_row_size(down_type, n_embd);
    return (n + 7) / 8 * 8;
}

static bool is_bundle_item(struct flm_gguf_str s, bool key) {
    static const char k[] = FLM_SPARSE_KEY_BUNDLE_TYPE, t[] = "." FLM_SPARSE_BUNDLE_TENSOR;
    if (key) return s.len == sizeof k - 1 && memcmp(s.ptr, k, sizeof k - 1) == 0;
    return s.len >= sizeof t - 1 && memcmp(s.ptr + s.len - (sizeof t - 1), t, sizeof t - 1) == 0;
}

static flm_status copy_src(struct flm_gguf_writer *w, const struct flm_gguf *src, struct flm_err *err) {
    for (int64_t i = 0; i < flm_gguf_n_kv(src); i++)
        if (!is_bundle_item(flm_gguf_key(src, i), true) && flm_gguf_writer_kv_copy(w, src, i))
            return flm_err_set(err, FLM_ERR_NOMEM, "bundle: cannot copy key %lld", (long long)i);
    for (int64_t i = 0; i < flm_gguf_n_tensors(src); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(src, i);
        if (is_bundle_item(t->name, false)) continue;
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
        if (flm_gguf_writer_tensor(w, nm, t->type, t->n_dims, t->ne, t->data, t->nbytes))
            return flm_err_set(err, FLM_ERR_NOMEM, "bundle: cannot copy tensor '%s'", nm);
    }
    return FLM_OK;
}

// Layer il's bundle from its up and down matrices into w.
static flm_status add_layer(struct flm_gguf_writer *w, const struct flm_gguf_tensor *up,
                            const struct flm_gguf_tensor *down, int il, enum flm_type dt, struct flm_err *err) {
    const int64_t E = up->ne[0], F = up->ne[1];
    const struct flm_type_traits *dtr = flm_quant_traits(down->type), *otr = flm_quant_traits(dt);
    const size_t urb = flm_type_row_size(up->type, E), drb = flm_type_row_size(down->type, F);
    const size_t bb = flm_sparse_bundle_bytes(up->type, dt, E);
    float *dense = malloc(sizeof(float) * (size_t)(E * F)), *col = malloc(sizeof(float) * (size_t)E);
    uint8_t *b = calloc((size_t)F, bb);
    flm_status st = FLM_OK;
    if (!dense || !col || !b) st = flm_err_set(err, FLM_ERR_NOMEM, "bundle: out of memory for layer %d", il);
    for (int64_t r = 0; st == FLM_OK && r < E; r++)
        dtr->to_float((const char *)down->data + (size_t)r * drb, dense + r * F, F);
    for (int64_t i = 0; st == FLM_OK && i < F; i++) {
        memcpy(b + (size_t)i * bb, (const char *)up->data + (size_t)i * urb, urb);
        for (int64_t r = 0; r < E; r++) col[r] = dense[r * F + i];
        otr->from_float(col, b + (size_t)i * bb + urb, E);
    }
    if (st == FLM_OK) {
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.%s", il, FLM_SPARSE_BUNDLE_TENSOR);
        const int64_t ne[2] = {(int64_t)bb, F};
        if (flm_gguf_writer_tensor(w, nm, FLM_TYPE_I8, 2, ne, b, bb * (size_t)F))
            st = flm_err_set(err, FLM_ERR_NOMEM, "bundle: cannot add tensor '%s'", nm);
    }
    free(dense), free(col), free(b);
    return st;
}

flm_status flm_sparse_bundle_write(const struct flm_gguf *src, const char *src_path, const char *path,
                                   enum flm_type down_type, struct flm_err *err) {
    flm_status st = flm_sparse_check_output(src_path, path, err);
    if (st) return st;
    const struct flm_type_traits *otr = flm_quant_traits(down_type);
    const struct flm_type_layout *ol = flm_type_layout(down_type);
    if (!otr || !otr->from_float || !otr->vec_dot || !ol)
        return flm_err_set(err, FLM_ERR_INVALID, "bundle: type %d cannot hold weights", (int)down_type);
    struct flm_gguf_writer *w;
    if ((st = flm_gguf_writer_init(&w, flm_gguf_version(src), 0)))
        return flm_err_set(err, st, "bundle: cannot start a GGUF writer");
    st = copy_src(w, src, err);
    int il = 0;
    for (; st == FLM_OK; il++) {
        char nu[64], nd[64];
        snprintf(nu, sizeof nu, "blk.%d.ffn_up.weight", il);
        snprintf(nd, sizeof nd, "blk.%d.ffn_down.weight", il);
        const struct flm_gguf_tensor *up = flm_gguf_find_tensor(src, nu), *down = flm_gguf_find_tensor(src, nd);
        if (!up && !down) break;
        if (!up || !down || up->n_dims != 2 || down->n_dims != 2 || up->ne[0] != down->ne[1] ||
            up->ne[1] != down->ne[0] || !flm_quant_traits(down->type) || !flm_quant_traits(up->type))
            st = flm_err_set(err, FLM_ERR_FORMAT, "bundle: layer %d: ffn_up and ffn_down missing or of mismatched shapes", il);
        else if (up->ne[0] % ol->blck_size)
            st = flm_err_set(err, FLM_ERR_INVALID, "bundle: n_embd %lld is not a multiple of %s's block of %lld",
                             (long long)up->ne[0], ol->name, (long long)ol->blck_size);
        else st = add_layer(w, up, down, il, down_type, err);
    }
    if (st == FLM_OK && il == 0) st = flm_err_set(err, FLM_ERR_FORMAT, "bundle: no blk.N.ffn_up/ffn_down tensors");
    if (st == FLM_OK && flm_gguf_writer_kv_u32(w, FLM_SPARSE_KEY_BUNDLE_TYPE, (uint32_t)down_type))
        st = flm_err_set(err, FLM_ERR_NOMEM, "bundle: cannot add key");
    if (st == FLM_OK) st = flm_gguf_writer_to_file(w, path, err);
    flm_gguf_writer_free(w);
    return st;
}
