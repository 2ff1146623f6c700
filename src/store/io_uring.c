// io_uring.c - the io_uring backend (liburing): every read of a batch is
// queued in the kernel at once, completions are reaped while waiting.
#include "store/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLM_HAVE_URING
#include <liburing.h>

struct slot {  // one read in flight; user_data is its index
    struct flm_io_req r;
    int               tag;
    bool              used;
};

struct tag_state {
    int            pending;
    flm_status     status;
    struct flm_err err;
};

struct uring_io {
    struct flm_io     base;
    struct io_uring   ring;
    int               fd;
    const char       *path;
    int               n_slots, n_free;
    struct slot      *slots;
    int              *free_list;
    struct tag_state *tags;
};

static void fail_tag(struct uring_io *u, struct tag_state *t, flm_status st, const char *fmt, uint64_t off, size_t len,
                     int res) {
    if (t->status != FLM_OK) return;
    t->status = st;
    flm_err_set(&t->err, st, fmt, u->path, len, (unsigned long long)off, res < 0 ? strerror(-res) : "end of file");
}

// Reaps one completion (waiting for it when wait is set); false when none.
static bool reap(struct uring_io *u, bool wait) {
    struct io_uring_cqe *cqe;
    int rc = wait ? io_uring_wait_cqe(&u->ring, &cqe) : io_uring_peek_cqe(&u->ring, &cqe);
    if (rc < 0) return false;
    int idx = (int)io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&u->ring, cqe);
    struct slot *s = &u->slots[idx];
    struct tag_state *t = &u->tags[s->tag];
    if (res > 0 && (size_t)res < s->r.need) {  // partial: queue the rest
        s->r.buf = (char *)s->r.buf + res;
        s->r.len -= (size_t)res;
        s->r.need -= (size_t)res;
        s->r.off += (uint64_t)res;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (sqe) {
            io_uring_prep_read(sqe, u->fd, s->r.buf, (unsigned)s->r.len, s->r.off);
            io_uring_sqe_set_data64(sqe, (uint64_t)idx);
            io_uring_submit(&u->ring);
            return true;
        }
        res = -EAGAIN;
    }
    if (res < 0 || (res == 0 && s->r.need > 0))
        fail_tag(u, t, FLM_ERR_IO, "io: %s: read of %zu bytes at offset %llu failed: %s (truncated while in use?)",
                 s->r.off, s->r.len, res);
    s->used = false;
    u->free_list[u->n_free++] = idx;
    t->pending--;
    return true;
}

static flm_status uring_submit(struct flm_io *io, int tag, const struct flm_io_req *reqs, int n, struct flm_err *err) {
    struct uring_io *u = (struct uring_io *)io;
    struct tag_state *t = &u->tags[tag];
    if (t->pending || n > u->n_slots)
        return flm_err_set(err, FLM_ERR_INVALID, "io: batch %d: %d reads do not fit", tag, n);
    t->status = FLM_OK;
    for (int i = 0; i < n; i++) {
        while (!u->n_free) reap(u, true);
        struct io_uring_sqe *sqe;
        while (!(sqe = io_uring_get_sqe(&u->ring))) io_uring_submit(&u->ring);
        int idx = u->free_list[--u->n_free];
        u->slots[idx] = (struct slot){reqs[i], tag, true};
        io_uring_prep_read(sqe, u->fd, reqs[i].buf, (unsigned)reqs[i].len, reqs[i].off);
        io_uring_sqe_set_data64(sqe, (uint64_t)idx);
        t->pending++;
    }
    int rc = io_uring_submit(&u->ring);
    if (rc < 0) return flm_err_set(err, FLM_ERR_IO, "io: %s: io_uring_submit failed: %s", u->path, strerror(-rc));
    return FLM_OK;
}

static flm_status uring_wait(struct flm_io *io, int tag, struct flm_err *err) {
    struct uring_io *u = (struct uring_io *)io;
    struct tag_state *t = &u->tags[tag];
    while (t->pending)
        if (!reap(u, true)) {
            t->pending = 0;
            return flm_err_set(err, FLM_ERR_IO, "io: %s: waiting for reads failed", u->path);
        }
    flm_status st = t->status;
    if (st && err) *err = t->err;
    t->status = FLM_OK;
    return st;
}

static bool uring_busy(const struct flm_io *io, int tag) {
    struct uring_io *u = (struct uring_io *)io;
    while (reap(u, false)) {}
    return u->tags[tag].pending > 0;
}

static void uring_close(struct flm_io *io) {
    struct uring_io *u = (struct uring_io *)io;
    while (u->n_free < u->n_slots && reap(u, true)) {}
    io_uring_queue_exit(&u->ring);
    free(u->slots), free(u->free_list), free(u->tags), free(u);
}

static const struct flm_io_ops uring_ops = {uring_submit, uring_wait, uring_busy, uring_close};

flm_status flm_io_uring_open(struct flm_io **out, int fd, const char *path, int n_tags, int max_reqs,
                             struct flm_err *err) {
    struct uring_io *u = calloc(1, sizeof *u);
    if (!u) return flm_err_set(err, FLM_ERR_NOMEM, "io: out of memory");
    unsigned entries = 1;
    while (entries < (unsigned)max_reqs && entries < 4096) entries *= 2;
    int rc = io_uring_queue_init(entries, &u->ring, 0);
    if (rc < 0) {
        free(u);
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "io: io_uring is not available here: %s", strerror(-rc));
    }
    u->base = (struct flm_io){&uring_ops, FLM_IO_URING};
    u->fd = fd;
    u->path = path;
    u->n_slots = max_reqs;
    u->slots = calloc((size_t)max_reqs, sizeof *u->slots);
    u->free_list = calloc((size_t)max_reqs, sizeof *u->free_list);
    u->tags = calloc((size_t)n_tags, sizeof *u->tags);
    if (!u->slots || !u->free_list || !u->tags) {
        io_uring_queue_exit(&u->ring);
        free(u->slots), free(u->free_list), free(u->tags), free(u);
        return flm_err_set(err, FLM_ERR_NOMEM, "io: out of memory for %d reads", max_reqs);
    }
    for (int i = 0; i < max_reqs; i++) u->free_list[u->n_free++] = max_reqs - 1 - i;
    *out = &u->base;
    return FLM_OK;
}

#else

flm_status flm_io_uring_open(struct flm_io **out, int fd, const char *path, int n_tags, int max_reqs,
                             struct flm_err *err) {
    (void)fd, (void)path, (void)n_tags, (void)max_reqs;
    *out = NULL;
    return flm_err_set(err, FLM_ERR_UNSUPPORTED, "io: built without liburing");
}

#endif
