// store.c - where weight bytes live: registration, the residency choice,
// pinned reads, the stream pool with its sliding window, row reads, and the
// checks that the file is still the one that was opened.
#include "store/store.h"

#include "store/io.h"
#include "store/neurons.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK      (1u << 20)   // bytes per read request
#define HEAD_CHUNK (4u << 20)   // smallest unit the LM head is cut into when it streams alone
#define A          ((uint64_t)FLM_IO_ALIGN)
#define NEURON_REQS   256         // neuron reads per batch
#define NEURON_GAP    0           // merge neuron ranges whose pages touch (larger gaps read more, not faster)
#define NEURON_STAGE  (2u << 20)  // most bytes of neuron reads in flight

typedef unsigned long long ull;

struct tensor {
    uint64_t             off;        // absolute file offset
    size_t               nbytes;
    int64_t              n_rows;
    size_t               row_bytes;
    int                  rows_align;
    int                  group;
    enum flm_store_class cls;
    const void          *data;       // resident bytes, or NULL while it streams
    bool                 pinned;
    int                  unit0;      // streamed: its (first) unit
    int                  n_parts;    // units it is cut into (1: read whole with its group)
    int64_t              part_rows;  // rows per part when cut
    size_t               pos;        // not cut: where its aligned span starts in the unit's buffer
    enum flm_store_role  role;
    bool                 skip;       // never read in the mode committed (dense-only in neuron mode, or bundles)
};

struct span {
    uint64_t off;  // aligned file offset
    size_t   len;  // aligned length
    size_t   pos;  // in the unit's buffer
};

struct unit {
    int    group, part;
    int    span0, n_spans;
    size_t bytes;
    int    slot;  // holding it, or -1
};

struct slot {
    uint8_t *buf;
    int      unit;     // -1: empty
    bool     loading;  // a batch is in flight
    bool     held;     // acquired by the forward pass
};

struct flm_store {
    const struct flm_gguf  *g;
    struct flm_store_params p;
    struct flm_gguf_file_id id;
    int                     n_t, cap_t;
    struct tensor          *t;
    bool                    committed;
    // committed, with a budget
    int                     fd;
    bool                    direct;
    struct flm_io          *io;
    uint8_t                *pinned;
    size_t                  pinned_bytes;
    int                     n_groups;
    int                    *group_unit;  // [n_groups] first unit, or -1
    int                     n_units, n_spans;
    struct unit            *units;
    struct span            *spans;
    int                     n_slots;
    size_t                  slot_bytes;
    struct slot            *slots;
    uint8_t                *pool;
    struct flm_io_req      *reqs;        // scratch for one unit's requests
    int                     max_reqs;
    uint8_t                *rowbuf;
    size_t                  rowbuf_bytes;
    uint64_t                stream_bytes;
    pthread_mutex_t         mu;
    // counters
    uint64_t                bytes_read, n_reads, wait_ns;
    // neuron mode (see the last section)
    int32_t                 neuron_min;     // asked for: the least slots per layer; 0: off
    int32_t                 neuron_window;
    struct flm_neurons     *nc;             // NULL: no neuron cache
    int                    *group_cache;    // [n_groups] cache index of the group, or -1
    uint64_t                neuron_bytes;   // what nc allocated
};

static uint64_t align_down(uint64_t x) { return x & ~(A - 1); }
static uint64_t align_up(uint64_t x) { return (x + A - 1) & ~(A - 1); }
static size_t span_of(uint64_t off, size_t n) { return (size_t)(align_up(off + n) - align_down(off)); }

static void       neuron_prepare(struct flm_store *s);
static uint64_t   neuron_need(const struct flm_store *s, int32_t capacity, struct flm_neurons_params *np);
static int32_t    neuron_capacity(const struct flm_store *s, uint64_t used);
static void       neuron_shrink(struct flm_store *s, uint64_t other, size_t rowbuf);
static flm_status neuron_commit(struct flm_store *s, int32_t capacity, struct flm_err *err);

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------- open / add

flm_status flm_store_open(struct flm_store **out, const struct flm_gguf *g, const struct flm_store_params *p,
                          struct flm_err *err) {
    *out = NULL;
    struct flm_store *s = calloc(1, sizeof *s);
    if (!s) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    s->g = g;
    s->p = *p;
    if (s->p.max_slots <= 0) s->p.max_slots = 8;
    if (s->p.min_slots <= 0) s->p.min_slots = 2;
    if (s->p.max_slots < s->p.min_slots) s->p.max_slots = s->p.min_slots;
    if (!s->p.head_chunk) s->p.head_chunk = HEAD_CHUNK;
    s->fd = -1;
    flm_gguf_file_id(g, &s->id);
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return FLM_OK;
}

void flm_store_close(struct flm_store *s) {
    if (!s) return;
    flm_io_close(s->io);
    flm_neurons_free(s->nc);
    free(s->group_cache);
    if (s->fd >= 0) close(s->fd);
    free(s->pinned), free(s->pool), free(s->rowbuf), free(s->reqs);
    free(s->slots), free(s->units), free(s->spans), free(s->group_unit), free(s->t);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int flm_store_add(struct flm_store *s, const struct flm_gguf_tensor *gt, int group, enum flm_store_class cls,
                  int64_t n_rows, size_t row_bytes, int rows_align) {
    FLM_ASSERT(!s->committed);
    for (int i = 0; i < s->n_t; i++)  // the same tensor twice (a tied LM head): one entry
        if (s->t[i].off == flm_gguf_data_offset(s->g) + gt->offset && s->t[i].nbytes == gt->nbytes && gt->nbytes) {
            if (cls < s->t[i].cls) s->t[i].cls = cls, s->t[i].group = group;
            if (group + 1 > s->n_groups) s->n_groups = group + 1;
            return i;
        }
    if (s->n_t == s->cap_t) {
        int cap = s->cap_t ? 2 * s->cap_t : 64;
        struct tensor *nt = realloc(s->t, (size_t)cap * sizeof *nt);
        if (!nt) return -1;
        s->t = nt, s->cap_t = cap;
    }
    s->t[s->n_t] = (struct tensor){
        .off = flm_gguf_data_offset(s->g) + gt->offset, .nbytes = gt->nbytes, .n_rows = n_rows, .row_bytes = row_bytes,
        .rows_align = rows_align > 0 ? rows_align : 1, .group = group, .cls = cls, .data = gt->data,
        .pinned = s->p.budget == 0, .unit0 = -1, .n_parts = 1};
    if (group + 1 > s->n_groups) s->n_groups = group + 1;
    return s->n_t++;
}

// ---------------------------------------------------------------- file checks

static flm_status check_file(struct flm_store *s, struct flm_err *err) {
    const char *path = flm_gguf_path(s->g);
    struct stat a, b;
    if (fstat(s->fd, &a) != 0)
        return flm_err_set(err, FLM_ERR_IO, "store: %s: cannot stat the open model file: %s", path, strerror(errno));
    const int64_t mt = (int64_t)a.st_mtim.tv_sec * 1000000000 + a.st_mtim.tv_nsec;
    if ((uint64_t)a.st_size != s->id.size || mt != s->id.mtime_ns)
        return flm_err_set(err, FLM_ERR_IO,
                           "store: %s: the model file changed while in use (size %llu, now %llu; mtime %s): "
                           "its weights can no longer be trusted",
                           path, (ull)s->id.size, (ull)a.st_size, mt != s->id.mtime_ns ? "changed" : "same");
    if (stat(path, &b) != 0)
        return flm_err_set(err, FLM_ERR_IO, "store: %s: the model file was removed while in use: %s", path,
                           strerror(errno));
    if ((uint64_t)b.st_ino != s->id.ino || (uint64_t)b.st_dev != s->id.dev)
        return flm_err_set(err, FLM_ERR_IO, "store: %s: the model file was replaced while in use (inode %llu, now %llu)",
                           path, (ull)s->id.ino, (ull)b.st_ino);
    return FLM_OK;
}

static void drop_cache(struct flm_store *s, uint64_t off, size_t len) {
    if (!s->direct) posix_fadvise(s->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

// ---------------------------------------------------------------- residency

struct plan {
    size_t   slot;     // stream buffer size
    uint64_t pinned;   // bytes pinned
};

static size_t tensor_span(const struct tensor *t) { return span_of(t->off, t->nbytes); }

// Row span of a cut LM head part holding `rows` rows (two pages of slack).
static int64_t head_part_rows(const struct tensor *t, size_t slot) {
    int64_t rows = (int64_t)((slot - 2 * A) / t->row_bytes);
    rows -= rows % t->rows_align;
    if (rows < t->rows_align) rows = t->rows_align;
    return rows > t->n_rows ? t->n_rows : rows;
}

// The stream buffer size the unpinned tensors need, and the pinned bytes.
static struct plan measure(const struct flm_store *s) {
    struct plan pl = {0, 0};
    size_t *grp = calloc((size_t)s->n_groups + 1, sizeof *grp);
    size_t head = 0, head_row_min = 0;
    for (int i = 0; i < s->n_t; i++) {
        const struct tensor *t = &s->t[i];
        if (t->skip || (t->role == FLM_STORE_ROLE_BUNDLE && !t->pinned)) continue;  // never read, or neuron by neuron
        if (t->pinned) pl.pinned += tensor_span(t);
        else if (t->cls == FLM_STORE_HEAD) {
            head += tensor_span(t);
            head_row_min = (size_t)t->rows_align * t->row_bytes + 2 * A;  // one row group and its page slack
        }
        else if (t->cls != FLM_STORE_EMBD && grp) grp[t->group] += tensor_span(t);
    }
    for (int g = 0; grp && g < s->n_groups; g++) pl.slot = grp[g] > pl.slot ? grp[g] : pl.slot;
    if (head) {  // cut into parts no smaller than a layer's unit (or head_chunk), each a whole row group
        size_t want = pl.slot > s->p.head_chunk ? pl.slot : s->p.head_chunk;
        want = want > head_row_min ? want : head_row_min;
        const size_t part = head < want ? head : want;
        pl.slot = part > pl.slot ? part : pl.slot;
    }
    if (!grp) pl.slot = SIZE_MAX / 4;  // no memory to plan with: never fits
    free(grp);
    return pl;
}

static size_t rowbuf_need(const struct flm_store *s) {
    size_t m = 0;
    for (int i = 0; i < s->n_t; i++)
        if (s->t[i].cls == FLM_STORE_EMBD || s->t[i].cls == FLM_STORE_HEAD)
            m = s->t[i].row_bytes > m ? s->t[i].row_bytes : m;
    return m ? (size_t)align_up(m) + A : 0;
}

static bool fits(const struct flm_store *s, uint64_t other, size_t rowbuf) {
    const struct plan pl = measure(s);
    return other + pl.pinned + rowbuf + (uint64_t)s->p.min_slots * pl.slot + neuron_need(s, s->neuron_min, NULL) <=
           s->p.budget;
}

// Pins in value-per-byte order while min_slots stream buffers still fit.
static void choose(struct flm_store *s, uint64_t other, size_t rowbuf) {
    static const enum flm_store_class order[] = {FLM_STORE_ATTN, FLM_STORE_HEAD, FLM_STORE_FFN};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (int g = -1; g < s->n_groups; g++) {
            bool any = false;
            for (int i = 0; i < s->n_t; i++)
                if (s->t[i].cls == order[k] && s->t[i].group == g && !s->t[i].pinned && !s->t[i].skip)
                    s->t[i].pinned = any = true;
            if (any && !fits(s, other, rowbuf))
                for (int i = 0; i < s->n_t; i++)
                    if (s->t[i].cls == order[k] && s->t[i].group == g) s->t[i].pinned = false;
        }
}

// ---------------------------------------------------------------- layout

static flm_status build_units(struct flm_store *s, size_t slot, struct flm_err *err) {
    int cap = s->n_t * 2 + 64;
    s->spans = malloc((size_t)cap * sizeof *s->spans);
    s->units = malloc((size_t)cap * sizeof *s->units);
    s->group_unit = malloc((size_t)(s->n_groups ? s->n_groups : 1) * sizeof *s->group_unit);
    if (!s->spans || !s->units || !s->group_unit) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    for (int g = 0; g < s->n_groups; g++) {
        s->group_unit[g] = -1;
        struct unit u = {.group = g, .part = 0, .span0 = s->n_spans, .slot = -1};
        for (int i = 0; i < s->n_t; i++) {
            struct tensor *t = &s->t[i];
            if (t->pinned || t->group != g || t->cls == FLM_STORE_EMBD || t->skip || t->role == FLM_STORE_ROLE_BUNDLE)
                continue;
            const size_t len = tensor_span(t);
            if (t->cls == FLM_STORE_HEAD && len > slot) {  // cut into parts of whole rows, one unit each
                t->part_rows = head_part_rows(t, slot);
                t->n_parts = (int)((t->n_rows + t->part_rows - 1) / t->part_rows);
                if (s->n_units + t->n_parts + 1 > cap || s->n_spans + t->n_parts + 1 > cap) {
                    cap = s->n_units + s->n_spans + t->n_parts * 2 + 64;
                    struct span *ns = realloc(s->spans, (size_t)cap * sizeof *ns);
                    if (ns) s->spans = ns;
                    struct unit *nu = realloc(s->units, (size_t)cap * sizeof *nu);
                    if (nu) s->units = nu;
                    if (!ns || !nu) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
                }
                t->unit0 = s->n_units;
                for (int p = 0; p < t->n_parts; p++) {
                    const int64_t r0 = p * t->part_rows;
                    const int64_t n = t->n_rows - r0 < t->part_rows ? t->n_rows - r0 : t->part_rows;
                    const uint64_t o = t->off + (uint64_t)r0 * t->row_bytes;
                    s->spans[s->n_spans] = (struct span){align_down(o), span_of(o, (size_t)n * t->row_bytes), 0};
                    s->units[s->n_units++] = (struct unit){g, p, s->n_spans, 1, s->spans[s->n_spans].len, -1};
                    s->n_spans++;
                }
                if (s->group_unit[g] < 0) s->group_unit[g] = t->unit0;
                continue;
            }
            t->unit0 = s->n_units;  // the group's unit, added below
            t->pos = u.bytes;
            s->spans[s->n_spans++] = (struct span){align_down(t->off), len, u.bytes};
            u.bytes += len;
            u.n_spans++;
        }
        if (u.n_spans) {
            s->group_unit[g] = s->n_units;
            s->units[s->n_units++] = u;
        }
    }
    return FLM_OK;
}

// ---------------------------------------------------------------- reads

// A read of [off, off + len): what must arrive stops at the end of the file.
static struct flm_io_req req(const struct flm_store *s, void *buf, size_t len, uint64_t off) {
    const uint64_t end = off + len > s->id.size ? s->id.size : off + len;
    return (struct flm_io_req){buf, len, off, end > off ? (size_t)(end - off) : 0};
}

static int reqs_of(struct flm_store *s, const struct unit *u, uint8_t *buf) {
    int n = 0;
    for (int k = 0; k < u->n_spans; k++) {
        const struct span *sp = &s->spans[u->span0 + k];
        for (size_t at = 0; at < sp->len; at += CHUNK)
            s->reqs[n++] = req(s, buf + sp->pos + at, sp->len - at < CHUNK ? sp->len - at : CHUNK, sp->off + at);
    }
    return n;
}

static flm_status load(struct flm_store *s, int sl, int ui, struct flm_err *err) {
    struct slot *slot = &s->slots[sl];
    struct unit *u = &s->units[ui];
    if (slot->unit >= 0) s->units[slot->unit].slot = -1;
    slot->unit = -1;
    flm_status st = check_file(s, err);
    if (st) return st;
    const int n = reqs_of(s, u, slot->buf);
    if ((st = flm_io_submit(s->io, sl, s->reqs, n, err))) return st;
    slot->unit = ui;
    slot->loading = true;
    u->slot = sl;
    s->bytes_read += u->bytes;
    s->n_reads += (uint64_t)n;
    return FLM_OK;
}

// Waits for slot sl's read; on failure the slot is left empty.
static flm_status finish(struct flm_store *s, int sl, struct flm_err *err) {
    struct slot *slot = &s->slots[sl];
    if (!slot->loading) return FLM_OK;
    const uint64_t t0 = now_ns();
    flm_status st = flm_io_wait(s->io, sl, err);
    s->wait_ns += now_ns() - t0;
    slot->loading = false;
    if (st == FLM_OK) st = check_file(s, err);  // cut or rewritten during the read
    if (st && slot->unit >= 0) {
        s->units[slot->unit].slot = -1;
        slot->unit = -1;
    }
    if (st == FLM_OK && !s->direct) {
        const struct unit *u = &s->units[slot->unit];
        for (int k = 0; k < u->n_spans; k++) drop_cache(s, s->spans[u->span0 + k].off, s->spans[u->span0 + k].len);
    }
    return st;
}

static bool in_window(const struct flm_store *s, int unit, int from) {
    if (unit < 0) return false;
    int d = (unit - from + s->n_units) % s->n_units;
    return d < s->n_slots;
}

// A slot for unit ui: not held, not holding a unit of the window from ui.
// Idle slots first; a slot still reading is waited for only when wait.
static int victim(struct flm_store *s, int from, bool wait) {
    int busy = -1;
    for (int i = 0; i < s->n_slots; i++) {
        const struct slot *sl = &s->slots[i];
        if (sl->held || in_window(s, sl->unit, from)) continue;
        if (!sl->loading) return i;
        busy = i;
    }
    if (busy >= 0 && wait) {
        finish(s, busy, NULL);
        return busy;
    }
    return -1;
}

// Queues the units of the window [from, from + n_slots) that are not present.
static void prefetch(struct flm_store *s, int from) {
    for (int k = 0; k < s->n_slots; k++) {
        const int ui = (from + k) % s->n_units;
        if (s->units[ui].slot >= 0) continue;
        const int sl = victim(s, from, false);
        if (sl < 0 || load(s, sl, ui, NULL)) return;
    }
}

// ---------------------------------------------------------------- commit

static flm_status submit_wait(struct flm_store *s, int n, struct flm_err *err) {
    flm_status st = flm_io_submit(s->io, 0, s->reqs, n, err);
    return st ? st : flm_io_wait(s->io, 0, err);
}

static flm_status read_pinned(struct flm_store *s, struct flm_err *err) {
    size_t total = 0;
    for (int i = 0; i < s->n_t; i++)
        if (s->t[i].pinned) total += tensor_span(&s->t[i]);
    if (!total) return FLM_OK;
    if (posix_memalign((void **)&s->pinned, A, total))
        return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory for %zu bytes of pinned weights", total);
    s->pinned_bytes = total;
    size_t at = 0;
    int n = 0;
    flm_status st = FLM_OK;
    for (int i = 0; i < s->n_t && !st; i++) {
        struct tensor *t = &s->t[i];
        if (!t->pinned) continue;
        const size_t len = tensor_span(t);
        t->data = s->pinned + at + (t->off - align_down(t->off));
        for (size_t k = 0; k < len && !st; k += CHUNK) {
            s->reqs[n++] = req(s, s->pinned + at + k, len - k < CHUNK ? len - k : CHUNK, align_down(t->off) + k);
            if (n == s->max_reqs) st = submit_wait(s, n, err), n = 0;
        }
        at += len;
        s->bytes_read += len;
    }
    if (!st && n) st = submit_wait(s, n, err);
    for (int i = 0; i < s->n_t && !st; i++)
        if (s->t[i].pinned) drop_cache(s, align_down(s->t[i].off), tensor_span(&s->t[i]));
    return st ? st : check_file(s, err);
}

static flm_status open_direct(struct flm_store *s, struct flm_err *err) {
    const char *path = flm_gguf_path(s->g);
    s->fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
    s->direct = s->fd >= 0;
    if (s->fd < 0 && errno == EINVAL) s->fd = open(path, O_RDONLY | O_CLOEXEC);  // no O_DIRECT on this file system
    if (s->fd < 0)
        return flm_err_set(err, FLM_ERR_IO, "store: %s: cannot open for reading: %s", path, strerror(errno));
    return check_file(s, err);
}

// The residency choice and the stream layout (units, slot size, slots,
// bytes streamed per token, the neuron caches' capacity), nothing read or
// allocated but the layout's own tables: the part of the commit a dry run
// (flm_store_plan) shares.
static flm_status layout(struct flm_store *s, struct flm_budget *b, size_t rowbuf, int32_t *capacity_out,
                         struct flm_err *err) {
    const uint64_t other = b->item[FLM_MEM_RUNTIME] + b->item[FLM_MEM_META] + b->item[FLM_MEM_CONTEXT];
    neuron_prepare(s);
    for (int i = 0; i < s->n_t; i++) s->t[i].pinned = s->t[i].cls == FLM_STORE_NORM;
    if (!fits(s, other, rowbuf)) s->p.head_chunk = 1;  // tight: an LM head streamed alone in parts of a layer's size
    if (!fits(s, other, rowbuf)) neuron_shrink(s, other, rowbuf);  // tight: smaller neuron caches
    const struct plan least = measure(s);
    if (!fits(s, other, rowbuf)) {
        char what[160], sz[32], nz[32];
        const uint64_t cache = neuron_need(s, s->neuron_min, NULL);
        b->item[FLM_MEM_PINNED] = least.pinned;
        snprintf(what, sizeof what, "stream buffers (%d x %s, one layer each)%s%s%s", s->p.min_slots,
                 flm_budget_size_str(least.slot, sz, sizeof sz), cache ? " and neuron caches (" : "",
                 cache ? flm_budget_size_str(cache, nz, sizeof nz) : "", cache ? ")" : "");
        return flm_budget_check(b, (uint64_t)s->p.min_slots * least.slot + rowbuf + cache, what, err);
    }
    choose(s, other, rowbuf);
    const struct plan pl = measure(s);
    const flm_status st = build_units(s, pl.slot, err);
    if (st) return st;
    s->slot_bytes = pl.slot;
    const int32_t capacity = neuron_capacity(s, other + pl.pinned + rowbuf + (uint64_t)s->p.min_slots * pl.slot);
    uint64_t room = s->p.budget - other - pl.pinned - rowbuf - neuron_need(s, capacity, NULL);
    s->n_slots = s->n_units ? (int)(room / (pl.slot ? pl.slot : 1)) : 0;
    if (s->n_slots > s->p.max_slots) s->n_slots = s->p.max_slots;
    if (s->n_slots > s->n_units) s->n_slots = s->n_units;
    int per_unit = 1;
    for (int u = 0; u < s->n_units; u++) {
        int n = 0;
        for (int k = 0; k < s->units[u].n_spans; k++) n += (int)((s->spans[s->units[u].span0 + k].len + CHUNK - 1) / CHUNK);
        per_unit = n > per_unit ? n : per_unit;
        s->stream_bytes += s->units[u].bytes;
    }
    s->max_reqs = per_unit < 64 ? 64 : per_unit;
    *capacity_out = capacity;
    return FLM_OK;
}

flm_status flm_store_commit(struct flm_store *s, struct flm_budget *b, struct flm_err *err) {
    if (s->committed) return FLM_OK;
    if (s->p.budget == 0) {
        s->committed = true;
        return FLM_OK;
    }
    const size_t rowbuf = rowbuf_need(s);
    int32_t capacity = 0;
    flm_status st = layout(s, b, rowbuf, &capacity, err);
    if (st) return st;
    s->reqs = malloc((size_t)s->max_reqs * sizeof *s->reqs);
    s->slots = calloc((size_t)(s->n_slots ? s->n_slots : 1), sizeof *s->slots);
    if (!s->reqs || !s->slots) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    if ((st = open_direct(s, err))) return st;
    const int n_tags = s->n_slots ? s->n_slots : 1;  // and one more for neuron reads
    if ((st = flm_io_open(&s->io, s->fd, flm_gguf_path(s->g), s->p.io, n_tags + 1,
                          s->max_reqs * n_tags + NEURON_REQS, err)))
        return st;
    if ((st = read_pinned(s, err))) return st;
    if (s->n_slots && posix_memalign((void **)&s->pool, A, (size_t)s->n_slots * s->slot_bytes))
        return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory for %d stream buffers", s->n_slots);
    for (int i = 0; i < s->n_slots; i++) s->slots[i] = (struct slot){s->pool + (size_t)i * s->slot_bytes, -1, false, false};
    if (rowbuf) {
        if (posix_memalign((void **)&s->rowbuf, A, rowbuf))
            return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
        s->rowbuf_bytes = rowbuf;
    }
    if ((st = neuron_commit(s, capacity, err))) return st;
    b->item[FLM_MEM_PINNED] = s->pinned_bytes;
    b->item[FLM_MEM_STREAM] = (uint64_t)s->n_slots * s->slot_bytes + rowbuf;
    b->item[FLM_MEM_NEURON] = s->neuron_bytes;
    s->committed = true;
    return FLM_OK;
}

bool flm_store_committed(const struct flm_store *s) { return s->committed; }

// ---------------------------------------------------------------- dry run

static flm_status plan_fill(const struct flm_store *s, size_t rowbuf, struct flm_store_plan *out, struct flm_err *err) {
    out->t = calloc((size_t)(s->n_t ? s->n_t : 1), sizeof *out->t);
    out->units = calloc((size_t)(s->n_units ? s->n_units : 1), sizeof *out->units);
    if (!out->t || !out->units) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    out->budget = s->p.budget;
    out->n_groups = s->n_groups;
    out->n_tensors = s->n_t;
    for (int i = 0; i < s->n_t; i++) {
        const struct tensor *t = &s->t[i];
        out->t[i] = (struct flm_store_tensor_plan){t->group, t->cls, t->off, s->p.budget ? tensor_span(t) : t->nbytes,
                                                   t->row_bytes, t->pinned, t->pinned ? 1 : t->n_parts,
                                                   s->p.budget && t->skip};
        if (t->pinned) out->pinned_bytes += out->t[i].bytes;
    }
    out->n_units = s->n_units;
    for (int u = 0; u < s->n_units; u++)
        out->units[u] = (struct flm_store_unit_plan){s->units[u].group, s->units[u].part, s->units[u].bytes};
    out->stream_bytes = s->stream_bytes;
    out->slot_bytes = s->slot_bytes;
    out->n_slots = s->n_slots;
    out->min_slots = s->p.min_slots;
    out->rowbuf_bytes = s->p.budget ? rowbuf : 0;
    return FLM_OK;
}

flm_status flm_store_plan(struct flm_store *s, const struct flm_budget *b, struct flm_store_plan *out,
                          struct flm_err *err) {
    memset(out, 0, sizeof *out);
    const size_t rowbuf = rowbuf_need(s);
    if (s->committed || s->p.budget == 0) {
        out->neuron_bytes = s->neuron_bytes;
        return plan_fill(s, rowbuf, out, err);
    }
    struct tensor *saved = malloc((size_t)(s->n_t ? s->n_t : 1) * sizeof *saved);
    if (!saved) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    memcpy(saved, s->t, (size_t)s->n_t * sizeof *saved);
    const struct flm_store_params saved_p = s->p;  // layout may tighten head_chunk
    const int32_t saved_neuron_min = s->neuron_min; // and turn neuron mode off (no bundles)
    struct flm_budget bb = *b;
    int32_t capacity = 0;
    flm_status st = layout(s, &bb, rowbuf, &capacity, err);
    if (st == FLM_OK) st = plan_fill(s, rowbuf, out, err);
    if (st == FLM_OK) out->neuron_bytes = neuron_need(s, capacity, NULL);
    // undo: the store is as before, ready for its real commit
    memcpy(s->t, saved, (size_t)s->n_t * sizeof *saved);
    s->p = saved_p;
    s->neuron_min = saved_neuron_min;
    free(saved), free(s->units), free(s->spans), free(s->group_unit);
    s->units = NULL, s->spans = NULL, s->group_unit = NULL;
    s->n_units = s->n_spans = s->n_slots = s->max_reqs = 0;
    s->slot_bytes = 0, s->stream_bytes = 0;
    if (st) flm_store_plan_free(out);
    return st;
}

void flm_store_plan_free(struct flm_store_plan *p) {
    free(p->t), free(p->units);
    memset(p, 0, sizeof *p);
}

// ---------------------------------------------------------------- views

const void *flm_store_resident(const struct flm_store *s, int id) { return s->t[id].data; }

int flm_store_n_parts(const struct flm_store *s, int id) { return s->t[id].data ? 1 : s->t[id].n_parts; }

bool flm_store_group_streams(const struct flm_store *s, int group) {
    return s->group_unit && group >= 0 && group < s->n_groups && s->group_unit[group] >= 0;
}

void flm_store_begin(struct flm_store *s) {
    if (s->p.budget) pthread_mutex_lock(&s->mu);
}

void flm_store_end(struct flm_store *s) {
    if (s->p.budget) pthread_mutex_unlock(&s->mu);
}

flm_status flm_store_acquire(struct flm_store *s, int group, int part, struct flm_err *err) {
    if (!flm_store_group_streams(s, group)) return FLM_OK;
    const int ui = s->group_unit[group] + part;
    FLM_ASSERT(ui < s->n_units && s->units[ui].group == group);
    int sl = s->units[ui].slot;
    flm_status st;
    if (sl < 0) {
        sl = victim(s, ui, true);
        FLM_ASSERT(sl >= 0);
        if ((st = load(s, sl, ui, err))) return st;
    }
    s->slots[sl].held = true;
    prefetch(s, ui);
    if ((st = finish(s, sl, err))) s->slots[sl].held = false;
    return st;
}

void flm_store_release(struct flm_store *s, int group, int part) {
    if (!flm_store_group_streams(s, group)) return;
    const int ui = s->group_unit[group] + part;
    if (s->units[ui].slot >= 0) s->slots[s->units[ui].slot].held = false;
    prefetch(s, (ui + 1) % s->n_units);  // the freed buffer takes the unit n_slots ahead
}

const void *flm_store_view(const struct flm_store *s, int id, int part, int64_t *r0, int64_t *n_rows) {
    const struct tensor *t = &s->t[id];
    *r0 = 0;
    *n_rows = t->n_rows;
    if (t->data) return t->data;
    if (t->unit0 < 0) return NULL;  // not streamed: never read in this mode, or served by the neuron cache
    const struct unit *u = &s->units[t->unit0 + (t->n_parts > 1 ? part : 0)];
    FLM_ASSERT(u->slot >= 0);
    const uint8_t *buf = s->slots[u->slot].buf;
    if (t->n_parts == 1) return buf + t->pos + (t->off - align_down(t->off));
    *r0 = part * t->part_rows;
    *n_rows = t->n_rows - *r0 < t->part_rows ? t->n_rows - *r0 : t->part_rows;
    const uint64_t o = t->off + (uint64_t)*r0 * t->row_bytes;
    return buf + (o - align_down(o));
}

const void *flm_store_row(struct flm_store *s, int id, int64_t r, struct flm_err *err) {
    const struct tensor *t = &s->t[id];
    if (t->data) return (const uint8_t *)t->data + (size_t)r * t->row_bytes;
    const uint64_t o = t->off + (uint64_t)r * t->row_bytes, a = align_down(o);
    const size_t len = span_of(o, t->row_bytes);
    FLM_ASSERT(len <= s->rowbuf_bytes);
    flm_status st = check_file(s, err);
    const struct flm_io_req rq = req(s, s->rowbuf, len, a);
    if (st == FLM_OK) st = flm_io_pread(s->fd, flm_gguf_path(s->g), rq.buf, rq.len, rq.need, rq.off, err);
    if (st) return NULL;
    drop_cache(s, a, len);
    s->bytes_read += len;
    s->n_reads++;
    return s->rowbuf + (o - a);
}

void flm_store_get_io(const struct flm_store *s, struct flm_model_io *o) {
    struct flm_store *ms = (struct flm_store *)s;  // the counters are read under the pass lock
    flm_store_begin(ms);
    o->mem_budget = s->p.budget;
    o->pinned_bytes = s->p.budget ? s->pinned_bytes : 0;
    o->stream_bytes = s->stream_bytes;
    o->pool_bytes = (uint64_t)s->n_slots * s->slot_bytes;
    o->pool_slots = s->n_slots;
    o->io = s->io ? flm_io_kind_of(s->io) : FLM_IO_AUTO;
    o->direct = s->direct;
    o->bytes_read = s->bytes_read;
    o->n_reads = s->n_reads;
    o->io_wait_seconds = (double)s->wait_ns * 1e-9;
    o->cache_hit_rate = -1.0;
    o->neuron_lookups = o->neuron_hits = o->neuron_bytes_read = o->neuron_reads = o->neuron_cache_bytes = 0;
    o->neuron_capacity = o->neuron_layers = 0;
    if (s->nc) {
        struct flm_neurons_stats ns;
        flm_neurons_get_stats(s->nc, &ns);
        o->neuron_lookups = ns.lookups;
        o->neuron_hits = ns.hits;
        o->neuron_bytes_read = ns.bytes_read;
        o->neuron_reads = ns.n_reads;
        o->neuron_cache_bytes = s->neuron_bytes;
        o->neuron_capacity = flm_neurons_capacity(s->nc);
        o->neuron_layers = flm_neurons_n_layers(s->nc);
        o->bytes_read += ns.bytes_read;
        o->n_reads += ns.n_reads;
        o->io_wait_seconds += (double)ns.wait_ns * 1e-9;
        o->cache_hit_rate = ns.lookups ? (double)ns.hits / (double)ns.lookups : 0.0;
    }
    flm_store_end(ms);
}

// ---------------------------------------------------------------- neuron mode

// With a context's sparsity, a budget and row-column bundles, the FFN
// layers that are not pinned stream their gate only; their live neurons'
// bundles come from the neuron cache (store/neurons.h), one slot per
// neuron, capacity slots per layer for every such layer. Without neuron
// mode the bundles are never read (and with it, up and down never are).

int flm_store_add_role(struct flm_store *s, const struct flm_gguf_tensor *t, int group, enum flm_store_class cls,
                       int64_t n_rows, size_t row_bytes, enum flm_store_role role) {
    const int id = flm_store_add(s, t, group, cls, n_rows, row_bytes, 1);
    if (id >= 0) s->t[id].role = role;
    return id;
}

void flm_store_set_role(struct flm_store *s, int id, enum flm_store_role role) { s->t[id].role = role; }

void flm_store_neuron_mode(struct flm_store *s, int32_t min_capacity, int32_t window) {
    FLM_ASSERT(!s->committed);
    s->neuron_min = min_capacity;
    s->neuron_window = window;
}

// Which tensors the committed mode never reads.
static void neuron_prepare(struct flm_store *s) {
    bool bundles = false;
    for (int i = 0; i < s->n_t; i++) bundles |= s->t[i].role == FLM_STORE_ROLE_BUNDLE;
    if (!bundles) s->neuron_min = 0;
    for (int i = 0; i < s->n_t; i++)
        s->t[i].skip = s->t[i].role == (s->neuron_min ? FLM_STORE_ROLE_DENSE : FLM_STORE_ROLE_BUNDLE);
}

// The cache shape for the bundles that are not pinned (n_layers 0: none)
// and the bytes it takes.
static uint64_t neuron_need(const struct flm_store *s, int32_t capacity, struct flm_neurons_params *np) {
    struct flm_neurons_params p = {.capacity = capacity, .window = s->neuron_window, .max_gap = NEURON_GAP,
                                   .max_reqs = NEURON_REQS};
    size_t span = 0;
    for (int i = 0; s->neuron_min && i < s->n_t; i++) {
        const struct tensor *t = &s->t[i];
        if (t->role != FLM_STORE_ROLE_BUNDLE || t->pinned || t->skip) continue;
        p.n_layers++;
        p.n_ff = (int32_t)t->n_rows;
        p.bundle_bytes = t->row_bytes > p.bundle_bytes ? t->row_bytes : p.bundle_bytes;
        span = tensor_span(t) > span ? tensor_span(t) : span;
    }
    if (np) *np = p;
    if (!p.n_layers) return 0;
    if (p.capacity > p.n_ff) p.capacity = p.n_ff;
    p.staging = span + 2 * A < NEURON_STAGE ? span + 2 * A : NEURON_STAGE;
    if (p.staging < align_up(p.bundle_bytes) + 2 * A) p.staging = align_up(p.bundle_bytes) + 2 * A;
    if (np) *np = p;
    return flm_neurons_bytes(&p);
}

// The most slots per layer (from the least asked, up to every neuron) that
// fit with `used` bytes spent, the stream buffers' minimum among them; the
// stream pool takes what is left.
static int32_t neuron_capacity(const struct flm_store *s, uint64_t used) {
    struct flm_neurons_params p;
    if (!neuron_need(s, s->neuron_min, &p)) return 0;
    int32_t lo = p.capacity, hi = p.n_ff;
    while (lo < hi) {  // the largest capacity that fits
        const int32_t mid = lo + (hi - lo + 1) / 2;
        if (used + neuron_need(s, mid, NULL) <= s->p.budget) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// When caches of the asked size do not fit even with nothing but norms
// pinned: the most slots per layer that do (at least one; a token with more
// live neurons is then read in parts) rather than a refusal.
static void neuron_shrink(struct flm_store *s, uint64_t other, size_t rowbuf) {
    int32_t lo = 1, hi = s->neuron_min;
    if (!hi) return;
    while (lo < hi) {
        s->neuron_min = lo + (hi - lo + 1) / 2;
        if (fits(s, other, rowbuf)) lo = s->neuron_min;
        else hi = s->neuron_min - 1;
    }
    s->neuron_min = lo;
}

static flm_status check_file_cb(void *user, struct flm_err *err) { return check_file(user, err); }

static flm_status neuron_commit(struct flm_store *s, int32_t capacity, struct flm_err *err) {
    struct flm_neurons_params p;
    if (!capacity || !neuron_need(s, capacity, &p)) return FLM_OK;
    s->group_cache = malloc((size_t)s->n_groups * sizeof *s->group_cache);
    if (!s->group_cache) return flm_err_set(err, FLM_ERR_NOMEM, "store: out of memory");
    flm_status st = flm_neurons_init(&s->nc, &p, err);
    if (st) return st;
    for (int g = 0; g < s->n_groups; g++) s->group_cache[g] = -1;
    int k = 0;
    for (int i = 0; i < s->n_t; i++) {
        const struct tensor *t = &s->t[i];
        if (t->role != FLM_STORE_ROLE_BUNDLE || t->pinned || t->skip) continue;
        s->group_cache[t->group] = k;
        flm_neurons_set_layer(s->nc, k++, t->off, t->row_bytes);
    }
    s->neuron_bytes = flm_neurons_bytes(&p);
    return FLM_OK;
}

bool flm_store_neuron_active(const struct flm_store *s) { return s->neuron_min > 0 && s->committed && s->p.budget; }

bool flm_store_neuron_group(const struct flm_store *s, int group) {
    return s->group_cache && group >= 0 && group < s->n_groups && s->group_cache[group] >= 0;
}

int32_t flm_store_neuron_capacity(const struct flm_store *s) { return s->nc ? flm_neurons_capacity(s->nc) : 0; }

const void *flm_store_neurons(struct flm_store *s, int group, const int32_t *live, int32_t n, bool new_token,
                              int32_t *slot, size_t *stride, struct flm_err *err) {
    FLM_ASSERT(flm_store_neuron_group(s, group));
    const int k = s->group_cache[group];
    const struct flm_neurons_io rd = {.io = s->io, .tag = s->n_slots ? s->n_slots : 1, .fd = s->fd,
                                      .path = flm_gguf_path(s->g), .file_size = s->id.size, .direct = s->direct,
                                      .check = check_file_cb, .check_user = s};
    if (flm_neurons_fetch(s->nc, k, live, n, new_token, slot, &rd, err)) return NULL;
    *stride = flm_neurons_stride(s->nc);
    return flm_neurons_base(s->nc, k);
}
