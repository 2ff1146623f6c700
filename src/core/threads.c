// threads.c - the worker pool.
//
// A run publishes (fn, arg) and bumps a generation counter; workers spin on
// the counter for a short while (a decode step issues hundreds of runs, each
// a few microseconds apart) and only then sleep on a condition variable, so
// a busy model pays no system call per run and an idle pool burns no CPU.
// The caller works as thread 0 and waits, spinning, for the others.
#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define SPIN_ROUNDS 20000  // polls before a worker sleeps (~50-100 us)

struct flm_pool {
    int             n;
    pthread_t      *tids;
    flm_pool_fn     fn;
    void           *arg;
    atomic_uint     gen;      // bumped for each flm_pool_run
    atomic_int      pending;  // workers still running the current generation
    atomic_int      sleepers; // workers blocked on start
    atomic_int      quit;
    pthread_mutex_t mu;
    pthread_cond_t  start;
};

struct worker_arg {
    struct flm_pool *pool;
    int              ith;
};

static inline void cpu_relax(int i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
    if ((i & 1023) == 1023) sched_yield();
}

// Waits until gen differs from seen (or quit); returns the new generation.
static unsigned wait_gen(struct flm_pool *pool, unsigned seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        if (g != seen || atomic_load(&pool->quit)) return g;
        cpu_relax(i);
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    unsigned g;
    while ((g = atomic_load_explicit(&pool->gen, memory_order_acquire)) == seen && !atomic_load(&pool->quit))
        pthread_cond_wait(&pool->start, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *worker_main(void *p) {
    struct worker_arg wa = *(struct worker_arg *)p;
    free(p);
    struct flm_pool *pool = wa.pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(pool, seen);
        if (atomic_load(&pool->quit)) return NULL;
        pool->fn(pool->arg, wa.ith, pool->n);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
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
    atomic_store(&pool->quit, 1);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->tids[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start);
    free(pool->tids);
    free(pool);
}

int flm_pool_size(const struct flm_pool *pool) { return pool ? pool->n : 1; }

void flm_pool_run(struct flm_pool *pool, flm_pool_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->gen, 1);  // seq_cst: ordered before the sleepers check below
    if (atomic_load(&pool->sleepers) > 0) {  // wake the ones that went to sleep
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(arg, 0, pool->n);
    for (int i = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; i++) cpu_relax(i);
}
