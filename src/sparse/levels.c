// levels.c - reading the sparsity levels and per-layer thresholds of a model file.
#include "sparse/sparse.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

flm_status flm_sparse_levels_load(struct flm_sparse_levels *out, const struct flm_gguf *g, struct flm_err *err) {
    memset(out, 0, sizeof *out);
    if (flm_gguf_find_key(g, FLM_SPARSE_KEY_LEVELS) < 0) return FLM_OK;
    int64_t idx;
    uint64_t n;
    flm_status st = flm_gguf_get_arr(g, FLM_SPARSE_KEY_LEVELS, FLM_GGUF_FLOAT32, &idx, &n, err);
    if (st) return st;
    if (n < 1 || n > FLM_SPARSE_MAX_LEVELS)
        return flm_err_set(err, FLM_ERR_FORMAT, "sparse: %s has %llu levels, expected 1..%d", FLM_SPARSE_KEY_LEVELS,
                           (unsigned long long)n, FLM_SPARSE_MAX_LEVELS);
    const float *v = flm_gguf_arr_data(g, idx);
    for (uint64_t j = 0; j < n; j++) {
        if (!(v[j] > 0.0f && v[j] < 1.0f) || (j > 0 && !(v[j] > v[j - 1])))
            return flm_err_set(err, FLM_ERR_FORMAT, "sparse: %s[%llu] = %g: levels must be ascending in (0, 1)",
                               FLM_SPARSE_KEY_LEVELS, (unsigned long long)j, (double)v[j]);
        out->levels[j] = v[j];
    }
    out->n_levels = (int32_t)n;
    return FLM_OK;
}

flm_status flm_sparse_layer_load(const struct flm_gguf *g, int il, int64_t n_ff, int32_t n_levels,
                                 const float **thr, struct flm_err *err) {
    char key[64];
    snprintf(key, sizeof key, "%s%d", FLM_SPARSE_KEY_THR, il);
    *thr = NULL;
    int64_t idx;
    uint64_t n;
    if (flm_gguf_find_key(g, key) < 0)
        return flm_err_set(err, FLM_ERR_FORMAT, "sparse: %s is set but key '%s' is missing", FLM_SPARSE_KEY_LEVELS, key);
    flm_status st = flm_gguf_get_arr(g, key, FLM_GGUF_FLOAT32, &idx, &n, err);
    if (st) return st;
    if (n != (uint64_t)(n_ff * n_levels))
        return flm_err_set(err, FLM_ERR_FORMAT, "sparse: key '%s' has %llu values, expected %d levels x %lld", key,
                           (unsigned long long)n, n_levels, (long long)n_ff);
    const float *v = flm_gguf_arr_data(g, idx);
    for (uint64_t i = 0; i < n; i++)
        if (!(v[i] >= 0.0f))
            return flm_err_set(err, FLM_ERR_FORMAT, "sparse: key '%s' element %llu is %g, expected >= 0", key,
                               (unsigned long long)i, (double)v[i]);
    *thr = v;
    return FLM_OK;
}

int32_t flm_sparse_level_find(const struct flm_sparse_levels *lv, float s, struct flm_err *err) {
    if (s > 1.0f) s /= 100.0f;  // given in percent
    for (int32_t j = 0; j < lv->n_levels; j++)
        if (fabsf(lv->levels[j] - s) < 0.005f) return j;
    if (lv->n_levels == 0) {
        flm_err_set(err, FLM_ERR_INVALID,
                    "sparsity: the model has no activation thresholds (run 'flashlm calibrate' to add them)");
        return -1;
    }
    char have[FLM_SPARSE_MAX_LEVELS * 8] = "";
    for (int32_t j = 0; j < lv->n_levels; j++) {
        size_t k = strlen(have);
        snprintf(have + k, sizeof have - k, "%s%g", j ? ", " : "", (double)(lv->levels[j] * 100.0f));
    }
    flm_err_set(err, FLM_ERR_INVALID, "sparsity: level %g%% is not in the model (it has %s%%)", (double)(s * 100.0f),
                have);
    return -1;
}
