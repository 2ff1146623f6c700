// threads.c - the worker pool: workers wait on a generation counter, run the
// current function, and the last to finish wakes the caller.
#include "core/threads.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct flm_pool {
    int             n;
    pthread_t      *tids;
    pthread_mutex_t mu;
    pthread_cond_t  start;
    pthread_cond_t  done;
    unsigned long   gen;      // bumped for each flm_pool_run
    int             pending;  // workers still running the current generation
    int             quit;
    flm_pool_fn     fn;
    void           *arg;
};

struct worker_arg {
    struct flm_pool *pool;
    int              ith;
};

static void *worker_main(void *p) {
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct flm_pool *pool = wa.pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (pool->gen == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->gen;
        flm_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);

        fn(arg, wa.ith, pool->n);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

flm_status flm_pool_init(struct flm_pool **out, int n_threads, struct flm_err *err) {
    *out = NULL;
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > 256) return flm_err_set(err, FLM_ERR_INVALID, "threads: %d threads is too many (max 256)", n_threads);
    struct flm_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return flm_err_set(err, FLM_ERR_NOMEM, "threads: out of memory");
    pool->n = n_threads;
    pool->tids = calloc((size_t)n_threads, sizeof *pool->tids);
    if (!pool->tids) {
        free(pool);
        return flm_err_set(err, FLM_ERR_NOMEM, "threads: out of memory");
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (struct worker_arg){pool, i};
        if (!wa || pthread_create(&pool->tids[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n = i;  // only threads 1..i-1 exist
            flm_pool_free(pool);
            return flm_err_set(err, FLM_ERR_NOMEM, "threads: cannot start thread %d of %d", i, n_threads);
        }
    }
    *out = pool;
    return FLM_OK;
}

void flm_pool_free(struct flm_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->tids[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->tids);
    free(pool);
}

int flm_pool_size(const struct flm_pool *pool) { return pool ? pool->n : 1; }

void flm_pool_run(struct flm_pool *pool, flm_pool_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->pending = pool->n - 1;
    pool->gen++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);

    fn(arg, 0, pool->n);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
