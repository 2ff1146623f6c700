// io_posix.c - the portable backend: one reader thread runs queued reads
// with pread, in submission order, so reads overlap the caller's compute.
#include "store/io.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct item {
    struct flm_io_req r;
    int               tag;
};

struct tag_state {
    int            pending;  // reads of the batch not finished
    flm_status     status;
    struct flm_err err;      // first failure of the batch
};

struct posix_io {
    struct flm_io     base;
    int               fd;
    const char       *path;
    pthread_t         thread;
    pthread_mutex_t   mu;
    pthread_cond_t    work, done;
    struct item      *q;      // ring of cap items
    int               cap, head, count;
    bool              stop;
    int               n_tags;
    struct tag_state *tags;
};

static void *reader(void *arg) {
    struct posix_io *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->count && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->count) break;
        struct item it = p->q[p->head];
        pthread_mutex_unlock(&p->mu);
        struct flm_err e = {0};
        flm_status st = flm_io_pread(p->fd, p->path, it.r.buf, it.r.len, it.r.need, it.r.off, &e);
        pthread_mutex_lock(&p->mu);
        p->head = (p->head + 1) % p->cap;
        p->count--;
        struct tag_state *t = &p->tags[it.tag];
        if (st && t->status == FLM_OK) t->status = st, t->err = e;
        if (--t->pending == 0) pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static flm_status posix_submit(struct flm_io *io, int tag, const struct flm_io_req *reqs, int n, struct flm_err *err) {
    struct posix_io *p = (struct posix_io *)io;
    pthread_mutex_lock(&p->mu);
    struct tag_state *t = &p->tags[tag];
    if (t->pending || p->count + n > p->cap) {
        pthread_mutex_unlock(&p->mu);
        return flm_err_set(err, FLM_ERR_INVALID, "io: batch %d: %d reads do not fit (%d queued of %d)", tag, n,
                           p->count, p->cap);
    }
    t->status = FLM_OK;
    t->pending = n;
    for (int i = 0; i < n; i++) p->q[(p->head + p->count + i) % p->cap] = (struct item){reqs[i], tag};
    p->count += n;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return FLM_OK;
}

static flm_status posix_wait(struct flm_io *io, int tag, struct flm_err *err) {
    struct posix_io *p = (struct posix_io *)io;
    pthread_mutex_lock(&p->mu);
    struct tag_state *t = &p->tags[tag];
    while (t->pending) pthread_cond_wait(&p->done, &p->mu);
    flm_status st = t->status;
    if (st && err) *err = t->err;
    t->status = FLM_OK;
    pthread_mutex_unlock(&p->mu);
    return st;
}

static bool posix_busy(const struct flm_io *io, int tag) {
    struct posix_io *p = (struct posix_io *)io;
    pthread_mutex_lock(&p->mu);
    bool b = p->tags[tag].pending > 0;
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void posix_close(struct flm_io *io) {
    struct posix_io *p = (struct posix_io *)io;
    pthread_mutex_lock(&p->mu);
    p->stop = true;  // the reader drains the queue, then exits
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    free(p->q);
    free(p->tags);
    free(p);
}

static const struct flm_io_ops posix_ops = {posix_submit, posix_wait, posix_busy, posix_close};

flm_status flm_io_posix_open(struct flm_io **out, int fd, const char *path, int n_tags, int max_reqs,
                             struct flm_err *err) {
    struct posix_io *p = calloc(1, sizeof *p);
    if (p) {
        p->q = calloc((size_t)max_reqs, sizeof *p->q);
        p->tags = calloc((size_t)n_tags, sizeof *p->tags);
    }
    if (!p || !p->q || !p->tags) {
        if (p) free(p->q), free(p->tags);
        free(p);
        return flm_err_set(err, FLM_ERR_NOMEM, "io: out of memory for a queue of %d reads", max_reqs);
    }
    p->base = (struct flm_io){&posix_ops, FLM_IO_POSIX};
    p->fd = fd;
    p->path = path;
    p->cap = max_reqs;
    p->n_tags = n_tags;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (pthread_create(&p->thread, NULL, reader, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        free(p->q), free(p->tags), free(p);
        return flm_err_set(err, FLM_ERR_NOMEM, "io: cannot start the reader thread");
    }
    *out = &p->base;
    return FLM_OK;
}
