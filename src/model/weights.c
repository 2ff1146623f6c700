// weights.c - the model's side of the weight store and of the memory
// accountant: layer views over streamed weights, what the model itself
// costs, and the context reservations that commit the store.
#include "model/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Code, libc, thread stacks and small allocations of a running process
// (measured: flashlm's RSS before any model memory is about 4 MiB; the rest
// is headroom for the kernel's own charges to a memory cgroup).
#define RUNTIME_BYTES (8ull << 20)
// Vocabulary structures per token (text copies, lengths, hash slots, merge
// ranks), an upper bound from the BPE and SentencePiece loaders.
#define VOCAB_BYTES_PER_TOKEN 96ull

struct flm_model_mem {
    pthread_mutex_t   mu;
    struct flm_budget b;
    int32_t           neuron_level;  // the sparsity level the store's neuron mode serves (-1: not in it)
};

flm_status flm_model_mem_init(struct flm_model *m, uint64_t budget, struct flm_err *err) {
    m->mem = calloc(1, sizeof *m->mem);
    if (!m->mem) return flm_err_set(err, FLM_ERR_NOMEM, "model: out of memory");
    pthread_mutex_init(&m->mem->mu, NULL);
    struct flm_budget *b = &m->mem->b;
    m->mem->neuron_level = -1;
    b->limit = budget;
    b->item[FLM_MEM_RUNTIME] = RUNTIME_BYTES;
    b->item[FLM_MEM_META] = flm_gguf_header_bytes(m->gguf) + (uint64_t)m->hp.n_vocab * VOCAB_BYTES_PER_TOKEN +
                            (m->gelu_table ? 65536 * sizeof *m->gelu_table : 0) +
                            (uint64_t)m->hp.n_layer * sizeof *m->layers;
    if (m->chat_template) b->item[FLM_MEM_META] += strlen(m->chat_template) + 1;
    return flm_budget_check(b, 0, "", err);
}

void flm_model_mem_free(struct flm_model *m) {
    if (!m->mem) return;
    pthread_mutex_destroy(&m->mem->mu);
    free(m->mem);
    m->mem = NULL;
}

// After the commit, resident tensors get their pointers (pinned copies).
static void bind_resident(struct flm_model *m) {
    for (int il = 0; il < m->hp.n_layer; il++) {
        struct flm_layer *l = &m->layers[il];
        for (int k = 0; k < l->n_w; k++) {
            const void *d = flm_store_resident(m->store, l->w[k].id);
            char *f = (char *)l + l->w[k].field;
            if (l->w[k].mat) ((struct flm_mat *)(void *)f)->data = d;
            else memcpy(f, &d, sizeof d);  // a const float * field
        }
    }
    for (int il = 0; il < m->hp.n_layer; il++) {  // bundles: pinned, or served by the neuron cache (NULL)
        struct flm_layer *l = &m->layers[il];
        if (!l->bundle_up.row_bytes) continue;
        const char *d = flm_store_resident(m->store, l->sid_bundle);
        l->bundle_up.data = d;
        l->bundle_down.data = d ? d + l->w_up.row_bytes : NULL;
    }
    m->tok_embd.data = flm_store_resident(m->store, m->sid_embd);
    m->output.data = flm_store_resident(m->store, m->sid_output);
    m->output_norm = flm_store_resident(m->store, m->sid_output_norm);
}

// Before the first commit: neuron mode for a sparse context under a budget
// (when the file has bundles, the store takes it), with at least as many
// slots per layer as the level leaves live neurons on average.
static void ask_neuron_mode(struct flm_model *m, int32_t level, int32_t window) {
    if (level < 0 || !m->mem->b.limit) {
        flm_store_neuron_mode(m->store, 0, 0);
        return;
    }
    const int32_t F = m->hp.n_ff;
    int32_t min = (int32_t)((1.0 - (double)m->sparse.levels[level]) * F + 0.999);
    flm_store_neuron_mode(m->store, min < 1 ? 1 : min > F ? F : min, window);
}

static flm_status check_level(const struct flm_model *m, int32_t level, struct flm_err *err) {
    const int32_t have = m->mem->neuron_level;
    if (have < 0 || level == have) return FLM_OK;
    char want[48];
    if (level < 0) snprintf(want, sizeof want, "a dense context");
    else snprintf(want, sizeof want, "a context at sparsity %g%%", 100.0 * m->sparse.levels[level]);
    return flm_err_set(err, FLM_ERR_INVALID,
                       "context: under its memory budget this model reads its FFN neuron by neuron from the "
                       "row-column bundles for sparsity %g%% (its first context's level), so %s cannot share it; "
                       "open the model again for it",
                       100.0 * m->sparse.levels[have], want);
}

flm_status flm_model_reserve(const struct flm_model *cm, uint64_t bytes, int32_t sparse_level, int32_t sparse_window,
                             struct flm_err *err) {
    struct flm_model *m = (struct flm_model *)cm;  // the accountant is the one mutable part, under its lock
    pthread_mutex_lock(&m->mem->mu);
    struct flm_budget *b = &m->mem->b;
    flm_status st = check_level(m, sparse_level, err);
    if (st) {
        pthread_mutex_unlock(&m->mem->mu);
        return st;
    }
    b->item[FLM_MEM_CONTEXT] += bytes;
    if (!flm_store_committed(m->store)) {
        ask_neuron_mode(m, sparse_level, sparse_window);
        st = flm_store_commit(m->store, b, err);
        if (st == FLM_OK && b->limit) bind_resident(m);
        if (st == FLM_OK && flm_store_neuron_active(m->store)) m->mem->neuron_level = sparse_level;
    } else {
        st = flm_budget_check(b, 0, "", err);
    }
    if (st) b->item[FLM_MEM_CONTEXT] -= bytes;
    pthread_mutex_unlock(&m->mem->mu);
    return st;
}

void flm_model_unreserve(const struct flm_model *cm, uint64_t bytes) {
    struct flm_model *m = (struct flm_model *)cm;
    pthread_mutex_lock(&m->mem->mu);
    m->mem->b.item[FLM_MEM_CONTEXT] -= bytes;
    pthread_mutex_unlock(&m->mem->mu);
}

const struct flm_layer *flm_model_layer(const struct flm_model *m, int il, struct flm_layer *tmp) {
    if (!flm_store_group_streams(m->store, il)) return &m->layers[il];
    *tmp = m->layers[il];
    for (int k = 0; k < tmp->n_w; k++) {
        if (flm_store_resident(m->store, tmp->w[k].id)) continue;
        int64_t r0, n;
        const void *d = flm_store_view(m->store, tmp->w[k].id, 0, &r0, &n);
        char *f = (char *)tmp + tmp->w[k].field;
        if (tmp->w[k].mat) ((struct flm_mat *)(void *)f)->data = d;
        else memcpy(f, &d, sizeof d);
    }
    return tmp;
}

void flm_model_get_io(const struct flm_model *m, struct flm_model_io *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mem->mu);
    flm_store_get_io(m->store, out);
    out->mem_planned = m->mem->b.limit ? flm_budget_total(&m->mem->b) : 0;
    pthread_mutex_unlock(&m->mem->mu);
}
