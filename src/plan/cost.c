// cost.c - the cost arithmetic: a matrix's time at its roofline, and the
// weight store's read pipeline simulated unit by unit.
//
// The simulation mirrors store.c's window rather than a formula such as
// max(sum compute, sum io): acquiring unit u loads it if absent (waiting for
// a buffer if all are busy) and queues the units u+1..u+K-1 into buffers that
// are neither held, nor holding a unit of that window, nor still loading
// (a buffer counts as loading until its unit is acquired, as in the store);
// releasing u queues from u+1, so the freed buffer takes the unit K ahead and
// reads run on across the token boundary. The disk serves reads one after
// the other at its rate (io_uring keeps a unit's 1 MiB requests in flight
// together; the probe measured that rate at that depth). With K equal to the
// number of units every unit stays present after the first token.
#include "plan/plan.h"

#include <stdlib.h>
#include <string.h>

#define SPIN_S 1e-4  // how long the pool's idle threads spin before they sleep (core/threads.c), about

double flm_plan_matmul_s(const struct flm_plan_compute *c, const struct flm_mat *w, double mem_bps) {
    const double bytes = (double)w->n_rows * (double)w->row_bytes;
    double t = -1;
    for (int i = 0; i < c->n_timed && t < 0; i++)
        if (c->timed[i].type == w->type && c->timed[i].n_rows == w->n_rows && c->timed[i].n_cols == w->n_cols)
            t = c->timed[i].seconds;
    const double rate = flm_plan_kernel_rate(c, w->type);
    if (t < 0) t = c->region_s + (rate > 0 ? bytes / rate : 0);
    const double from_mem = mem_bps > 0 ? c->region_s + bytes / mem_bps : 0;
    return t > from_mem ? t : from_mem;
}

// ---------------------------------------------------------------- the store's window

struct sim_slot {
    int    unit;     // -1: empty
    bool   loading;  // queued and not yet acquired
    bool   held;
    double ready;    // when its read completes
};

struct sim {
    const struct flm_plan_pipe *p;
    int                         k;
    struct sim_slot            *slot;
    int                        *unit_slot;  // [n_units] or -1
    double                      now, disk_free, wait, busy;
};

static bool in_window(const struct sim *s, int unit, int from) {
    return unit >= 0 && (unit - from + s->p->n_units) % s->p->n_units < s->k;
}

static void finish(struct sim *s, int sl) {
    struct sim_slot *x = &s->slot[sl];
    if (!x->loading) return;
    if (x->ready > s->now) s->wait += x->ready - s->now, s->now = x->ready;
    x->loading = false;
}

static void load(struct sim *s, int sl, int u) {
    struct sim_slot *x = &s->slot[sl];
    if (x->unit >= 0) s->unit_slot[x->unit] = -1;
    const double start = s->now > s->disk_free ? s->now : s->disk_free;
    x->ready = s->disk_free = start + s->p->unit_io_s[u];
    x->unit = u;
    x->loading = true;
    s->unit_slot[u] = sl;
    s->busy += s->p->unit_io_s[u];
}

static int victim(struct sim *s, int from, bool wait) {
    int busy = -1;
    for (int i = 0; i < s->k; i++) {
        const struct sim_slot *x = &s->slot[i];
        if (x->held || in_window(s, x->unit, from)) continue;
        if (!x->loading) return i;
        busy = i;
    }
    if (busy >= 0 && wait) finish(s, busy);
    return wait ? busy : -1;
}

static void prefetch(struct sim *s, int from) {
    for (int j = 0; j < s->k; j++) {
        const int u = (from + j) % s->p->n_units;
        if (s->unit_slot[u] >= 0) continue;
        const int sl = victim(s, from, false);
        if (sl < 0) return;
        load(s, sl, u);
    }
}

static void acquire(struct sim *s, int u) {
    int sl = s->unit_slot[u];
    if (sl < 0) {
        sl = victim(s, u, true);
        if (sl < 0) sl = 0;  // cannot happen with k >= 1 (nothing else is held)
        load(s, sl, u);
    }
    s->slot[sl].held = true;
    prefetch(s, u);
    finish(s, sl);
}

static void release(struct sim *s, int u) {
    if (s->unit_slot[u] >= 0) s->slot[s->unit_slot[u]].held = false;
    prefetch(s, (u + 1) % s->p->n_units);
}

void flm_plan_pipeline(const struct flm_plan_pipe *p, struct flm_plan_pipe_result *out) {
    memset(out, 0, sizeof *out);
    struct sim s = {.p = p, .k = p->n_slots < 1 ? 1 : p->n_slots};
    if (p->n_units > 0 && s.k > p->n_units) s.k = p->n_units;
    s.slot = calloc((size_t)s.k, sizeof *s.slot);
    s.unit_slot = malloc(sizeof *s.unit_slot * (size_t)(p->n_units > 0 ? p->n_units : 1));
    if (!s.slot || !s.unit_slot) {  // a few bytes: report no overlap at all rather than nothing
        for (int i = 0; i < p->n_steps; i++) out->compute_s += p->steps[i].compute_s;
        for (int u = 0; u < p->n_units; u++) out->io_s += p->unit_io_s[u];
        out->io_wait_s = out->io_s;
        out->token_s = p->token_s + out->compute_s + out->io_s;
        free(s.slot), free(s.unit_slot);
        return;
    }
    for (int i = 0; i < s.k; i++) s.slot[i].unit = -1;
    for (int u = 0; u < p->n_units; u++) s.unit_slot[u] = -1;
    enum { TOKENS = 6 };  // the window reaches its steady state within two
    for (int tok = 0; tok < TOKENS; tok++) {
        const double t0 = s.now, w0 = s.wait, b0 = s.busy;
        double compute = 0;
        s.now += p->token_s;
        for (int i = 0; i < p->n_steps; i++) {
            const int u = p->steps[i].unit;
            double w = s.wait;
            if (u >= 0 && u < p->n_units) acquire(&s, u);
            w = s.wait > w + SPIN_S ? p->wake_s : 0;  // a wait longer than the pool's threads spin
            s.now += p->steps[i].compute_s + w;
            compute += p->steps[i].compute_s + w;
            if (u >= 0 && u < p->n_units) release(&s, u);
        }
        *out = (struct flm_plan_pipe_result){s.now - t0, s.wait - w0, compute, s.busy - b0};
    }
    free(s.slot), free(s.unit_slot);
}
