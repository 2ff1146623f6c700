// threads.h - a fixed pool of worker threads, created once per context.
//
// flm_pool_run(pool, fn, arg) runs fn(arg, i, n) on every thread i of n (the
// caller is thread 0) and returns when all have finished. Work is split by
// the callee from (i, n), so there is no queue, no allocation and no task
// object per call: one generation and one barrier per parallel region.
#ifndef FLM_CORE_THREADS_H
#define FLM_CORE_THREADS_H

#include "core/status.h"

typedef void (*flm_pool_fn)(void *arg, int ith, int nth);

struct flm_pool;

// n_threads <= 0 means the number of online CPUs.
flm_status flm_pool_init(struct flm_pool **out, int n_threads, struct flm_err *err);
void       flm_pool_free(struct flm_pool *pool);
int        flm_pool_size(const struct flm_pool *pool);
void       flm_pool_run(struct flm_pool *pool, flm_pool_fn fn, void *arg);

// Splits [0, n) into nth near-equal ranges; returns range ith in *lo, *hi.
static inline void flm_split(long n, int ith, int nth, long *lo, long *hi) {
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

#endif
