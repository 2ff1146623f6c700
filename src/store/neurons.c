// neurons.c - the neuron cache: lookups, least-recently-used slots kept in
// a list per layer, windowing, and coalesced aligned reads of the misses.
#include "store/neurons.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define A ((uint64_t)FLM_IO_ALIGN)

// One layer's cache. Slots form a list from the most recently used (head)
// to the least (tail); free slots sit at the tail.
struct cache {
    uint64_t off;       // file offset of neuron 0's bundle
    size_t   row_bytes; // of one bundle in the file
    uint8_t *slots;     // [capacity][bundle_bytes]
    int32_t *slot_of;   // [n_ff] slot holding the neuron, or -1
    int32_t *neuron;    // [capacity] neuron in the slot, or -1
    int64_t *last;      // [capacity] token of its last use (1-based clock), or -1
    int32_t *prev, *next;
    int32_t  head, tail;
    int64_t  tick;      // tokens seen
};

struct flm_neurons {
    struct flm_neurons_params p;
    struct cache             *c;
    uint8_t                  *slot_mem;   // every layer's slots, one block
    int32_t                  *maps;       // every layer's maps, one block
    int64_t                  *lasts;      // every layer's last uses, one block
    uint8_t                  *staging;
    int32_t                  *miss;       // [capacity] index into live of each miss
    size_t                   *pos;        // [capacity] its bundle in the staging buffer
    uint64_t                 *r_start, *r_end;  // [max_reqs] ranges of the batch
    size_t                   *r_pos;
    struct flm_io_req        *reqs;       // [max_reqs]
    struct flm_neurons_stats  st;
};

static uint64_t align_down(uint64_t x) { return x & ~(A - 1); }
static uint64_t align_up(uint64_t x) { return (x + A - 1) & ~(A - 1); }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------- sizes and setup

// int32 entries of one layer's maps: slot_of, neuron, prev, next (last is an int64 block of its own).
static size_t map_words(const struct flm_neurons_params *p) { return (size_t)p->n_ff + 3 * (size_t)p->capacity; }

static size_t scratch_bytes(const struct flm_neurons_params *p) {
    return (size_t)p->capacity * (sizeof(int32_t) + sizeof(size_t)) +
           (size_t)p->max_reqs * (2 * sizeof(uint64_t) + sizeof(size_t) + sizeof(struct flm_io_req));
}

uint64_t flm_neurons_bytes(const struct flm_neurons_params *p) {
    const uint64_t L = (uint64_t)p->n_layers;
    return L * ((uint64_t)p->capacity * (p->bundle_bytes + sizeof(int64_t)) + map_words(p) * sizeof(int32_t) +
                sizeof(struct cache)) +
           p->staging + scratch_bytes(p);
}

static void list_init(struct cache *c, int32_t cap) {
    for (int32_t s = 0; s < cap; s++) {
        c->neuron[s] = -1, c->last[s] = -1;
        c->prev[s] = s - 1, c->next[s] = s + 1 < cap ? s + 1 : -1;
    }
    c->head = 0, c->tail = cap - 1;
}

flm_status flm_neurons_init(struct flm_neurons **out, const struct flm_neurons_params *p, struct flm_err *err) {
    *out = NULL;
    if (p->n_layers <= 0 || p->n_ff <= 0 || p->capacity <= 0 || p->capacity > p->n_ff || !p->bundle_bytes ||
        p->staging % A || p->staging < p->bundle_bytes + 2 * A || p->max_reqs <= 0)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "neurons: bad cache shape (%d layers, %d neurons, capacity %d, %zu-byte bundles, "
                           "%zu staging)",
                           p->n_layers, p->n_ff, p->capacity, p->bundle_bytes, p->staging);
    struct flm_neurons *nc = calloc(1, sizeof *nc);
    if (!nc) return flm_err_set(err, FLM_ERR_NOMEM, "neurons: out of memory");
    nc->p = *p;
    const size_t L = (size_t)p->n_layers, cap = (size_t)p->capacity;
    nc->c = calloc(L, sizeof *nc->c);
    nc->maps = malloc(L * map_words(p) * sizeof(int32_t));
    nc->lasts = malloc(L * cap * sizeof(int64_t));
    nc->miss = malloc(cap * sizeof *nc->miss);
    nc->pos = malloc(cap * sizeof *nc->pos);
    nc->r_start = malloc((size_t)p->max_reqs * sizeof *nc->r_start);
    nc->r_end = malloc((size_t)p->max_reqs * sizeof *nc->r_end);
    nc->r_pos = malloc((size_t)p->max_reqs * sizeof *nc->r_pos);
    nc->reqs = malloc((size_t)p->max_reqs * sizeof *nc->reqs);
    bool ok = nc->c && nc->maps && nc->lasts && nc->miss && nc->pos && nc->r_start && nc->r_end && nc->r_pos &&
              nc->reqs;
    ok = ok && !posix_memalign((void **)&nc->slot_mem, 64, L * cap * p->bundle_bytes);
    ok = ok && !posix_memalign((void **)&nc->staging, A, p->staging);
    if (!ok) {
        flm_neurons_free(nc);
        return flm_err_set(err, FLM_ERR_NOMEM, "neurons: out of memory for %llu bytes of neuron cache",
                           (unsigned long long)flm_neurons_bytes(p));
    }
    for (size_t k = 0; k < L; k++) {
        struct cache *c = &nc->c[k];
        int32_t *m = nc->maps + k * map_words(p);
        c->slots = nc->slot_mem + k * cap * p->bundle_bytes;
        c->slot_of = m, m += p->n_ff;
        c->neuron = m, m += cap;
        c->prev = m, m += cap;
        c->next = m, m += cap;
        c->last = nc->lasts + k * cap;
        for (int32_t i = 0; i < p->n_ff; i++) c->slot_of[i] = -1;
        list_init(c, p->capacity);
    }
    *out = nc;
    return FLM_OK;
}

void flm_neurons_free(struct flm_neurons *nc) {
    if (!nc) return;
    free(nc->c), free(nc->maps), free(nc->lasts), free(nc->miss), free(nc->pos);
    free(nc->r_start), free(nc->r_end), free(nc->r_pos);
    free(nc->reqs), free(nc->slot_mem), free(nc->staging);
    free(nc);
}

void flm_neurons_set_layer(struct flm_neurons *nc, int k, uint64_t off, size_t row_bytes) {
    FLM_ASSERT(row_bytes <= nc->p.bundle_bytes);
    nc->c[k].off = off, nc->c[k].row_bytes = row_bytes;
}
size_t flm_neurons_stride(const struct flm_neurons *nc) { return nc->p.bundle_bytes; }
const uint8_t *flm_neurons_base(const struct flm_neurons *nc, int k) { return nc->c[k].slots; }
int32_t flm_neurons_capacity(const struct flm_neurons *nc) { return nc->p.capacity; }
int flm_neurons_n_layers(const struct flm_neurons *nc) { return nc->p.n_layers; }
void flm_neurons_get_stats(const struct flm_neurons *nc, struct flm_neurons_stats *out) { *out = nc->st; }

static bool fresh_at(const struct flm_neurons *nc, const struct cache *c, int32_t s, int64_t t) {
    return c->last[s] >= 0 && (nc->p.window == 0 || c->last[s] >= t - nc->p.window);
}

int32_t flm_neurons_cached(const struct flm_neurons *nc, int k) {
    const struct cache *c = &nc->c[k];
    int32_t n = 0;
    for (int32_t s = 0; s < nc->p.capacity; s++) n += c->neuron[s] >= 0 && fresh_at(nc, c, s, c->tick + 1);
    return n;
}

// ---------------------------------------------------------------- the LRU list

static void unlink_slot(struct cache *c, int32_t s) {
    if (c->prev[s] >= 0) c->next[c->prev[s]] = c->next[s];
    else c->head = c->next[s];
    if (c->next[s] >= 0) c->prev[c->next[s]] = c->prev[s];
    else c->tail = c->prev[s];
}

static void touch(struct cache *c, int32_t s, int64_t t) {
    c->last[s] = t;
    if (c->head == s) return;
    unlink_slot(c, s);
    c->prev[s] = -1, c->next[s] = c->head;
    c->prev[c->head] = s;
    c->head = s;
}

static void to_tail(struct cache *c, int32_t s) {
    if (c->tail == s) return;
    unlink_slot(c, s);
    c->next[s] = -1, c->prev[s] = c->tail;
    c->next[c->tail] = s;
    c->tail = s;
}

// ---------------------------------------------------------------- reads

// Reads the batch of ranges and copies misses [j0, j1) into their slots.
static flm_status flush(struct flm_neurons *nc, struct cache *c, int nr, int32_t j0, int32_t j1, const int32_t *slot,
                        const struct flm_neurons_io *rd, struct flm_err *err) {
    if (!nr) return FLM_OK;
    uint64_t bytes = 0;
    for (int r = 0; r < nr; r++) {
        const uint64_t end = nc->r_end[r] < rd->file_size ? nc->r_end[r] : rd->file_size;
        const size_t len = (size_t)(nc->r_end[r] - nc->r_start[r]);
        nc->reqs[r] = (struct flm_io_req){nc->staging + nc->r_pos[r], len, nc->r_start[r],
                                          end > nc->r_start[r] ? (size_t)(end - nc->r_start[r]) : 0};
        bytes += len;
    }
    flm_status st = rd->check ? rd->check(rd->check_user, err) : FLM_OK;
    const uint64_t t0 = now_ns();
    if (!st) st = flm_io_submit(rd->io, rd->tag, nc->reqs, nr, err);
    if (!st) st = flm_io_wait(rd->io, rd->tag, err);
    nc->st.wait_ns += now_ns() - t0;
    if (!st && rd->check) st = rd->check(rd->check_user, err);  // cut or rewritten during the read
    if (st) return st;
    if (!rd->direct)
        for (int r = 0; r < nr; r++)
            posix_fadvise(rd->fd, (off_t)nc->r_start[r], (off_t)(nc->r_end[r] - nc->r_start[r]), POSIX_FADV_DONTNEED);
    nc->st.bytes_read += bytes;
    nc->st.n_reads += (uint64_t)nr;
    const size_t bb = nc->p.bundle_bytes;
    for (int32_t j = j0; j < j1; j++)
        memcpy(c->slots + (size_t)slot[nc->miss[j]] * bb, nc->staging + nc->pos[j], c->row_bytes);
    return FLM_OK;
}

// Groups the misses (ascending neurons) into aligned ranges, merging
// neighbours closer than max_gap, and reads them a staging buffer at a time.
static flm_status read_misses(struct flm_neurons *nc, struct cache *c, const int32_t *live, int32_t nm,
                              const int32_t *slot, const struct flm_neurons_io *rd, struct flm_err *err) {
    const size_t bb = c->row_bytes;
    size_t used = 0;
    int nr = 0;
    int32_t j0 = 0;
    flm_status st = FLM_OK;
    for (int32_t j = 0; j < nm && !st; j++) {
        const uint64_t o = c->off + (uint64_t)live[nc->miss[j]] * bb, a0 = align_down(o), a1 = align_up(o + bb);
        const int r = nr - 1;
        const uint64_t grown = r >= 0 && a1 > nc->r_end[r] ? a1 - nc->r_end[r] : 0;
        if (r >= 0 && a0 <= nc->r_end[r] + nc->p.max_gap && used + grown <= nc->p.staging) {
            nc->r_end[r] += grown;
            used += grown;
        } else {
            if (used + (a1 - a0) > nc->p.staging || nr == nc->p.max_reqs) {
                st = flush(nc, c, nr, j0, j, slot, rd, err);
                j0 = j, used = 0, nr = 0;
            }
            nc->r_start[nr] = a0, nc->r_end[nr] = a1, nc->r_pos[nr] = used;
            used += a1 - a0;
            nr++;
        }
        nc->pos[j] = nc->r_pos[nr - 1] + (size_t)(o - nc->r_start[nr - 1]);
    }
    return st ? st : flush(nc, c, nr, j0, nm, slot, rd, err);
}

// ---------------------------------------------------------------- lookups

flm_status flm_neurons_fetch(struct flm_neurons *nc, int k, const int32_t *live, int32_t n, bool new_token,
                             int32_t *slot, const struct flm_neurons_io *rd, struct flm_err *err) {
    struct cache *c = &nc->c[k];
    FLM_ASSERT(n <= nc->p.capacity);
    if (new_token) c->tick++;
    const int64_t t = c->tick;
    int32_t nm = 0;
    // hits, and misses that keep their (stale) slot: both move to the head
    for (int32_t i = 0; i < n; i++) {
        const int32_t s = c->slot_of[live[i]];
        slot[i] = s;
        if (s >= 0 && fresh_at(nc, c, s, t)) nc->st.hits++;
        else nc->miss[nm++] = i;
        if (s >= 0) touch(c, s, t);
    }
    nc->st.lookups += (uint64_t)n;
    // the others take the least recently used slots, none of them touched by this call
    for (int32_t j = 0; j < nm; j++) {
        const int32_t i = nc->miss[j];
        if (slot[i] >= 0) continue;
        const int32_t s = c->tail, old = c->neuron[s];
        if (old >= 0) c->slot_of[old] = -1;
        c->neuron[s] = live[i], c->slot_of[live[i]] = s;
        touch(c, s, t);
        slot[i] = s;
    }
    flm_status st = read_misses(nc, c, live, nm, slot, rd, err);
    if (st)  // the misses' slots hold no trusted bytes: forget them
        for (int32_t j = 0; j < nm; j++) {
            const int32_t s = slot[nc->miss[j]];
            c->slot_of[c->neuron[s]] = -1;
            c->neuron[s] = -1, c->last[s] = -1;
            to_tail(c, s);
        }
    return st;
}
