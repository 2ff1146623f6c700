// plan.c - a model's plan: the store's residency as a dry run, the probes,
// a roofline row per layer and the token time from the pipeline model.
#include "plan/plan.h"

#include "model/context.h"
#include "model/model.h"
#include "store/io.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1u << 20)
#define HEAD_SAMPLE (8u << 20)    // LM head bytes timed at most
#define REGION_MAX  (128ull << 20) // streamed bytes the deep reads cycle over at most

struct flm_plan_params flm_plan_params_default(void) {
    return (struct flm_plan_params){.probe_seconds = 2.0, .probe_mem_max = 256u << 20};
}

void flm_plan_free(struct flm_plan *plan) {
    if (!plan) return;
    free(plan->rows);
    plan->rows = NULL;
}

// ---------------------------------------------------------------- the model's matrices

// Matrix k of layer l (in its w[] list), or NULL when w[k] is a vector.
static const struct flm_mat *layer_mat(const struct flm_layer *l, int k) {
    return l->w[k].mat ? (const struct flm_mat *)(const void *)((const char *)l + l->w[k].field) : NULL;
}

static uint64_t mat_bytes(const struct flm_mat *w) { return (uint64_t)w->n_rows * w->row_bytes; }

// What the compute probe times: layer 0's matrices, one matrix of every
// other type a layer has, and a slice of the LM head.
static int probe_mats(const struct flm_model *m, const struct flm_store_plan *sp, struct flm_plan_mat *out, int cap) {
    int n = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const struct flm_layer *l = &m->layers[il];
        for (int k = 0; k < l->n_w && n < cap - 1; k++) {
            const struct flm_mat *w = layer_mat(l, k);
            if (!w) continue;
            bool seen = false;
            for (int i = 0; i < n && il > 0; i++) seen |= out[i].w.type == w->type;
            if (il > 0 && seen) continue;
            out[n++] = (struct flm_plan_mat){*w, sp->t[l->w[k].id].off};
        }
    }
    struct flm_mat head = m->output;
    if (mat_bytes(&head) > HEAD_SAMPLE) head.n_rows = (int64_t)(HEAD_SAMPLE / head.row_bytes);
    if (head.n_rows > 0 && n < cap) out[n++] = (struct flm_plan_mat){head, sp->t[m->sid_output].off};
    return n;
}

// ---------------------------------------------------------------- rows

static enum flm_plan_where where_of(const struct flm_store_plan *sp, int group, enum flm_store_class cls) {
    enum flm_plan_where w = FLM_PLAN_NONE;
    for (int i = 0; i < sp->n_tensors; i++) {
        const struct flm_store_tensor_plan *t = &sp->t[i];
        if (t->group != group || t->cls != cls || t->skip) continue;
        if (!t->pinned) return cls == FLM_STORE_EMBD ? FLM_PLAN_ON_DEMAND : FLM_PLAN_STREAMED;
        w = FLM_PLAN_PINNED;
    }
    return w;
}

static uint64_t flash_of(const struct flm_store_plan *sp, int group) {
    uint64_t b = 0;
    for (int u = 0; u < sp->n_units; u++)
        if (sp->units[u].group == group) b += sp->units[u].bytes;
    return b;
}

// Element-wise floats of a layer's one-token pass (norms, RoPE, activation,
// residuals) plus the attention's reads of pos cached positions.
static double layer_floats(const struct flm_hparams *hp, int pos) {
    return 6.0 * hp->n_embd + 3.0 * hp->n_ff + 2.0 * (double)hp->n_head * hp->head_dim * pos;
}

static void fill_rows(const struct flm_model *m, const struct flm_store_plan *sp, struct flm_plan *pl, int pos) {
    const struct flm_hparams *hp = &m->hp;
    const struct flm_plan_compute *c = &pl->compute;
    for (int g = 0; g <= hp->n_layer; g++) {
        struct flm_plan_row *r = &pl->rows[g];
        r->group = g;
        r->attn = where_of(sp, g, FLM_STORE_ATTN);
        r->ffn = where_of(sp, g, FLM_STORE_FFN);
        r->head = where_of(sp, g, FLM_STORE_HEAD);
        if (g < hp->n_layer) {
            const struct flm_layer *l = &m->layers[g];
            for (int k = 0; k < l->n_w; k++) {
                const struct flm_mat *w = layer_mat(l, k);
                if (!w) continue;
                r->mem_bytes += mat_bytes(w);
                r->compute_s += flm_plan_matmul_s(c, w, pl->mem_bps);
            }
            r->compute_s += c->region_s + layer_floats(hp, pos) * c->float_ns * 1e-9;  // attention's region
        } else {
            r->mem_bytes = mat_bytes(&m->output);
            const int parts = sp->t[m->sid_output].n_parts;
            struct flm_mat part = m->output;  // each part a matmul of its rows
            part.n_rows = (m->output.n_rows + parts - 1) / parts;
            r->compute_s += parts * flm_plan_matmul_s(c, &part, pl->mem_bps);
        }
        r->flash_bytes = flash_of(sp, g);
        r->io_s = pl->read_bps > 0 ? (double)r->flash_bytes / pl->read_bps : 0;
        r->io_bound = r->io_s > r->compute_s;
    }
}

// The token's steps (one per layer, one per LM head part) and the units' read times.
static flm_status run_pipeline(const struct flm_model *m, const struct flm_store_plan *sp, struct flm_plan *pl,
                               struct flm_err *err) {
    const int n_layer = m->hp.n_layer, parts = sp->t[m->sid_output].n_parts;
    struct flm_plan_step *steps = calloc((size_t)(n_layer + parts), sizeof *steps);
    double *io = calloc((size_t)(sp->n_units ? sp->n_units : 1), sizeof *io);
    if (!steps || !io) {
        free(steps), free(io);
        return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory");
    }
    int n = 0;
    for (int g = 0; g <= n_layer; g++) {
        int first = -1, n_u = 0;
        for (int u = 0; u < sp->n_units; u++)
            if (sp->units[u].group == g) first = first < 0 ? u : first, n_u++;
        if (g < n_layer) {
            steps[n++] = (struct flm_plan_step){pl->rows[g].compute_s, first};
        } else if (n_u > 1) {  // a cut LM head: each part's share of its compute
            for (int p = 0; p < n_u; p++)
                steps[n++] = (struct flm_plan_step){
                    pl->rows[g].compute_s * (double)sp->units[first + p].bytes / (double)pl->rows[g].flash_bytes,
                    first + p};
        } else {
            steps[n++] = (struct flm_plan_step){pl->rows[g].compute_s, first};
        }
    }
    if (sp->n_units && pl->compute.io_slowdown > 1)  // kernels run slower while reads stream
        for (int i = 0; i < n; i++) steps[i].compute_s *= pl->compute.io_slowdown;
    // The disk reads at one rate while the kernels run (reads queued between
    // layers, CPU shared) and at another while the pass waits: the rate per
    // token is their mix by the time spent in each, found by iterating.
    const double idle = flm_plan_disk_rate(&pl->disk, MIB, pl->read_depth * (sp->n_slots > 2 ? sp->n_slots : 2), false);
    const double busy = pl->compute.io_read_bps > 0 ? pl->compute.io_read_bps : idle;
    pl->read_bps = idle;
    for (int it = 0; it < 4; it++) {
        for (int u = 0; u < sp->n_units; u++) io[u] = pl->read_bps > 0 ? (double)sp->units[u].bytes / pl->read_bps : 0;
        const struct flm_plan_pipe pipe = {n, steps, sp->n_units, io, sp->n_slots, pl->row_read_s + pl->other_s,
                                           pl->compute.wake_s};
        flm_plan_pipeline(&pipe, &pl->pipe);
        const double c = pl->pipe.compute_s, w = pl->pipe.io_wait_s;
        if (it < 3 && c + w > 0) pl->read_bps = (busy * c + idle * w) / (c + w);
    }
    for (int g = 0; g < pl->n_rows; g++) {  // the rows' read times at that rate
        pl->rows[g].io_s = pl->read_bps > 0 ? (double)pl->rows[g].flash_bytes / pl->read_bps : 0;
        pl->rows[g].io_bound = pl->rows[g].io_s > pl->rows[g].compute_s;
    }
    pl->tok_s = pl->pipe.token_s > 0 ? 1.0 / pl->pipe.token_s : 0;
    free(steps), free(io);
    return FLM_OK;
}

// ---------------------------------------------------------------- the plan

static flm_status measure(const char *path, const struct flm_model *m, const struct flm_store_plan *sp,
                          const struct flm_plan_params *p, struct flm_plan *pl, struct flm_err *err) {
    uint64_t biggest = 0;
    for (int u = 0; u < sp->n_units; u++) biggest = sp->units[u].bytes > biggest ? sp->units[u].bytes : biggest;
    pl->read_depth = biggest ? (int)((biggest + MIB - 1) / MIB) : 8;
    if (pl->read_depth > 32) pl->read_depth = 32;
    const double secs = p->probe_seconds > 0 ? p->probe_seconds : 2.0;
    // the deep reads cycle over the tensors the store streams, as its reads do every token
    struct flm_plan_span *spans = calloc((size_t)(sp->n_tensors ? sp->n_tensors : 1), sizeof *spans);
    if (!spans) return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory");
    struct flm_plan_region reg = {0, spans, sp->stream_bytes < REGION_MAX ? sp->stream_bytes : REGION_MAX,
                                  sp->n_slots};
    for (int i = 0; i < sp->n_tensors && sp->n_units; i++)
        if (!sp->t[i].pinned && !sp->t[i].skip && sp->t[i].cls != FLM_STORE_EMBD) spans[reg.n++] = (struct flm_plan_span){sp->t[i].off, sp->t[i].bytes};
    flm_status st = flm_plan_probe_disk(path, &reg, pl->read_depth, 0.5 * secs, &pl->disk, err);
    if (!st) st = flm_plan_probe_mem(p->probe_mem_max, p->n_threads, 0.15 * secs, &pl->memory, err);
    struct flm_plan_mat mats[FLM_PLAN_MAX_ROWS + FLM_LAYER_MAX_W];
    const int n = probe_mats(m, sp, mats, (int)(sizeof mats / sizeof mats[0]));
    if (!st)
        st = flm_plan_probe_compute(path, mats, n, p->n_threads, &reg, sp->n_units ? pl->read_depth : 0, 0.35 * secs,
                                    &pl->compute, err);
    free(spans);
    return st;
}

flm_status flm_plan_model(const char *path, const struct flm_plan_params *params, struct flm_plan *pl,
                          struct flm_err *err) {
    memset(pl, 0, sizeof *pl);
    const struct flm_plan_params p = params ? *params : flm_plan_params_default();
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = p.mem_budget;
    struct flm_model *m = NULL;
    flm_status st = flm_model_open(&m, path, &mp, err);
    if (st) return st;
    // the context the tools open for plain generation (tools/flashlm.c cli_engine_open)
    struct flm_context_params cp = flm_context_params_default();
    cp.n_threads = p.n_threads;
    cp.n_ctx = p.n_ctx ? p.n_ctx : p.mem_budget ? 1024 : 0;
    if (p.n_batch) cp.n_batch = p.n_batch;
    if (p.mem_budget) cp.n_logits = 1;
    size_t ctx_bytes = 0;
    struct flm_store_plan sp;
    memset(&sp, 0, sizeof sp);
    st = flm_context_plan_bytes(m, &cp, &ctx_bytes, err);
    if (!st) st = flm_model_plan_store(m, ctx_bytes, &sp, &pl->mem, err);
    if (!st && !(pl->rows = calloc((size_t)m->hp.n_layer + 1, sizeof *pl->rows)))
        st = flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory");
    if (!st) {
        struct flm_model_info mi;
        flm_model_get_info(m, &mi);
        pl->file_bytes = mi.file_size;
        pl->weight_bytes = mi.weight_bytes;
        pl->n_layer = m->hp.n_layer;
        pl->n_rows = m->hp.n_layer + 1;
        pl->n_ctx = cp.n_ctx ? cp.n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
        pl->pinned_bytes = p.mem_budget ? sp.pinned_bytes : 0;
        pl->stream_bytes = sp.stream_bytes;
        pl->slot_bytes = sp.slot_bytes;
        pl->n_slots = sp.n_slots;
        pl->n_units = sp.n_units;
        pl->footprint = p.mem_budget ? sp.pinned_bytes + (uint64_t)sp.n_slots * sp.slot_bytes : mi.token_bytes;
        st = measure(path, m, &sp, &p, pl, err);
        pl->n_threads = pl->compute.n_threads;
    }
    if (!st) {
        pl->mem_bps = flm_plan_mem_rate(&pl->memory, pl->footprint);
        pl->read_bps = 0;  // the store's rate: run_pipeline finds it
        const struct flm_store_tensor_plan *e = &sp.t[m->sid_embd];
        if (p.mem_budget && !e->pinned) {  // a row read at random per token, 4 KiB pages
            const double page_s = 4096.0 / flm_plan_disk_rate(&pl->disk, 4096, 1, true);
            pl->row_read_s = ((double)e->row_bytes / 4096.0 + 1.0) * page_s;
        }
        pl->other_s = ((double)m->hp.n_vocab + 2.0 * m->hp.n_embd) * pl->compute.float_ns * 1e-9 + pl->compute.region_s;
        fill_rows(m, &sp, pl, pl->n_ctx / 2 < 64 ? pl->n_ctx / 2 : 64);
        st = run_pipeline(m, &sp, pl, err);
    }
    flm_store_plan_free(&sp);
    flm_model_free(m);
    if (st) flm_plan_free(pl);
    return st;
}
