// mask.c - per-token neuron masks from activations and thresholds.
#include "sparse/sparse.h"

#include <math.h>
#include <string.h>

int32_t flm_sparse_mask_fill(struct flm_neuron_mask *m, float *act, const float *thr) {
    int32_t n = 0;
    for (int32_t i = 0; i < m->n_ff; i++) {
        if (fabsf(act[i]) >= thr[i]) m->live[n++] = i;
        else act[i] = 0.0f;
    }
    m->n_live = n;
    return n;
}

int32_t flm_sparse_mask_blocks(const struct flm_neuron_mask *m, int32_t bs, uint8_t *block_live) {
    const int32_t nb = (m->n_ff + bs - 1) / bs;
    memset(block_live, 0, (size_t)nb);
    int32_t n = 0;
    for (int32_t k = 0; k < m->n_live; k++) {
        uint8_t *b = &block_live[m->live[k] / bs];
        n += !*b;
        *b = 1;
    }
    return n;
}

int32_t flm_sparse_window_update(struct flm_neuron_window *w, const struct flm_neuron_mask *m, int32_t *fresh) {
    const int64_t t = w->t++;
    int32_t n = 0, cached = 0;
    for (int32_t k = 0; k < m->n_live; k++) {  // cached: used at one of the tokens t - n_window .. t - 1
        const int32_t i = m->live[k];
        if (w->last[i] < 0 || w->last[i] < t - w->n_window) fresh[n++] = i;
        w->last[i] = t;
    }
    for (int32_t i = 0; i < w->n_ff; i++) cached += w->last[i] >= 0 && w->last[i] > t - w->n_window;
    w->n_cached = cached;  // what the next token finds cached
    return n;
}
