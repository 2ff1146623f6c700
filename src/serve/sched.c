// sched.c - the scheduler thread: admit, batch, sample, stream.
#include "serve/sched.h"

#include "core/status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct flm_job {
    struct flm_sched   *s;
    int                 refs;  // submitter + scheduler; under s->mu
    int32_t            *tokens, n_tokens, n_max;
    struct flm_sampler *smp;
    char               *stop[FLM_TEXTOUT_MAX_STOP];
    int                 n_stop;
    double              t_submit;
    struct flm_textout  tout;  // scheduler thread only
    struct flm_job     *next;  // queue link
    // ---- under s->mu
    pthread_cond_t      cv;    // new text or done
    char               *out;   // sanitized text not yet taken by the reader
    size_t              out_len, out_cap;
    bool                done, cancelled;
    enum flm_finish     finish;
    int32_t             n_gen;
    double              t_first;
    char                error[256];
};

struct slot {
    struct flm_job *job;      // NULL: free
    int32_t        *cache;    // [n_ctx] tokens whose KV the sequence holds
    int32_t         n_cache;
    int32_t         n_fed;    // prompt tokens evaluated
    int32_t         next_tok; // the token to feed when generating
    bool            generating;
};

struct flm_sched {
    const struct flm_model *model;
    struct flm_context     *ctx;
    int32_t                 n_parallel, n_queue, n_ctx, n_batch;
    struct slot            *slots;       // [n_parallel]
    struct flm_seq_batch   *items;       // [n_parallel]
    int32_t                *item_slot;   // [n_parallel]
    pthread_t               thread;
    bool                    started;
    pthread_mutex_t         mu;
    pthread_cond_t          cv;          // work arrived or shutdown
    struct flm_job         *q_head, *q_tail;  // under mu
    int32_t                 n_queued, n_busy; // under mu
    bool                    stopping;         // under mu
    struct flm_sched_stats  st;               // under mu
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------- jobs

static void job_free(struct flm_job *j) {
    free(j->tokens);
    flm_sampler_free(j->smp);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    flm_textout_free(&j->tout);
    free(j->out);
    pthread_cond_destroy(&j->cv);
    free(j);
}

// Drops one reference; under s->mu. Returns true when the job was freed.
static bool job_unref_locked(struct flm_job *j) {
    if (--j->refs > 0) return false;
    job_free(j);
    return true;
}

// Appends text for the reader; under s->mu.
static bool job_put_locked(struct flm_job *j, const char *text, size_t len) {
    if (!len) return true;
    if (!flm_textout_sanitize(&j->out, &j->out_len, &j->out_cap, text, len)) return false;
    pthread_cond_broadcast(&j->cv);
    return true;
}

// Ends a job for its reader and drops the scheduler's reference; under s->mu.
static void job_end_locked(struct flm_job *j, enum flm_finish finish, const char *error) {
    j->done = true;
    j->finish = finish;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    pthread_cond_broadcast(&j->cv);
    job_unref_locked(j);
}

enum flm_submit flm_sched_submit(struct flm_sched *s, struct flm_job_spec *spec, struct flm_job **out) {
    *out = NULL;
    struct flm_job *j = calloc(1, sizeof *j);
    if (!j) return FLM_SUBMIT_NOMEM;
    pthread_cond_init(&j->cv, NULL);
    j->s = s;
    j->refs = 2;
    j->n_max = spec->n_max;
    j->t_submit = now_s();
    for (int i = 0; i < spec->n_stop && i < FLM_TEXTOUT_MAX_STOP; i++)
        if (!(j->stop[j->n_stop++] = strdup(spec->stop[i]))) {
            job_free(j);
            return FLM_SUBMIT_NOMEM;
        }
    flm_textout_init(&j->tout, (const char *const *)j->stop, j->n_stop);
    pthread_mutex_lock(&s->mu);
    enum flm_submit r = s->stopping ? FLM_SUBMIT_CLOSED
                      : s->n_queued >= s->n_queue + (s->n_parallel - s->n_busy) ? FLM_SUBMIT_FULL
                                                                                  : FLM_SUBMIT_OK;
    if (r == FLM_SUBMIT_OK) {
        j->tokens = spec->tokens;
        j->n_tokens = spec->n_tokens;
        j->smp = spec->smp;
        spec->tokens = NULL;
        spec->smp = NULL;
        if (s->q_tail) s->q_tail->next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->n_queued++;
        s->st.n_jobs++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (r != FLM_SUBMIT_OK) job_free(j);
    else *out = j;
    return r;
}

void flm_job_wait(struct flm_job *j, int timeout_ms, struct flm_job_out *out) {
    struct flm_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (!j->done && j->out_len == 0 && timeout_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &s->mu, &ts);
    }
    if (j->out_len) {
        if (out->len + j->out_len + 1 > out->cap) {
            size_t cap = (out->len + j->out_len + 1) * 2;
            char *t = realloc(out->text, cap);
            if (t) out->text = t, out->cap = cap;
        }
        if (out->len + j->out_len + 1 <= out->cap) {
            memcpy(out->text + out->len, j->out, j->out_len);
            out->len += j->out_len;
            out->text[out->len] = '\0';
            j->out_len = 0;
        }
    }
    out->done = j->done && j->out_len == 0;
    out->finish = j->finish;
    out->n_prompt = j->n_tokens;
    out->n_gen = j->n_gen;
    out->t_first = j->t_first;
    snprintf(out->error, sizeof out->error, "%s", j->error);
    pthread_mutex_unlock(&s->mu);
}

void flm_job_cancel(struct flm_job *j) {
    struct flm_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (!j->done) {
        j->cancelled = true;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

void flm_job_release(struct flm_job *j) {
    if (!j) return;
    struct flm_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (!j->done) {
        j->cancelled = true;
        pthread_cond_signal(&s->cv);
    }
    job_unref_locked(j);
    pthread_mutex_unlock(&s->mu);
}

// ---------------------------------------------------------------- slots

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

// Puts queued jobs into free slots, reusing the longest cached prefix; under mu.
static void admit_locked(struct flm_sched *s) {
    while (s->q_head && s->n_busy < s->n_parallel) {
        struct flm_job *j = s->q_head;
        s->q_head = j->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        j->next = NULL;
        if (j->cancelled) {
            job_end_locked(j, FLM_FINISH_ABORT, "cancelled");
            continue;
        }
        int32_t best = -1, best_keep = -1;
        for (int32_t i = 0; i < s->n_parallel; i++) {
            if (s->slots[i].job) continue;
            int32_t keep = common_prefix(s->slots[i].cache, s->slots[i].n_cache, j->tokens, j->n_tokens);
            if (keep > best_keep) best = i, best_keep = keep;
        }
        if (best_keep >= j->n_tokens) best_keep = j->n_tokens - 1;  // the last token must be evaluated for its logits
        struct slot *sl = &s->slots[best];
        flm_seq_truncate(s->ctx, best, best_keep, NULL);
        sl->job = j;
        sl->n_cache = best_keep;
        sl->n_fed = best_keep;
        sl->generating = false;
        s->n_busy++;
        s->st.n_cached_tokens += (uint64_t)best_keep;
    }
}

// Ends the job in slot i, flushing what its textout still holds; under mu.
static void slot_end_locked(struct flm_sched *s, int32_t i, enum flm_finish finish, const char *error) {
    struct slot *sl = &s->slots[i];
    struct flm_job *j = sl->job;
    if (finish != FLM_FINISH_ABORT) job_put_locked(j, j->tout.buf, flm_textout_finish(&j->tout));
    job_end_locked(j, finish, error);
    sl->job = NULL;
    s->n_busy--;
}

// Ends cancelled jobs (their clients left) and, when stopping, all of them.
static void reap_locked(struct flm_sched *s) {
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (s->slots[i].job && (s->slots[i].job->cancelled || s->stopping))
            slot_end_locked(s, i, FLM_FINISH_ABORT, s->stopping ? "the server is shutting down" : "cancelled");
    if (!s->stopping) return;
    while (s->q_head) {
        struct flm_job *j = s->q_head;
        s->q_head = j->next;
        s->n_queued--;
        job_end_locked(j, FLM_FINISH_ABORT, "the server is shutting down");
    }
    s->q_tail = NULL;
}

// ---------------------------------------------------------------- one step

// Items for every live slot: generating slots first (one token each), then
// prompt chunks from what is left of n_batch.
static int32_t build_items(struct flm_sched *s) {
    int32_t n = 0, budget = s->n_batch;
    for (int32_t i = 0; i < s->n_parallel; i++) {
        struct slot *sl = &s->slots[i];
        if (!sl->job || !sl->generating) continue;
        s->items[n] = (struct flm_seq_batch){.seq = i, .tokens = &sl->next_tok, .n_tokens = 1};
        s->item_slot[n++] = i;
        budget--;
    }
    for (int32_t i = 0; i < s->n_parallel && budget > 0; i++) {
        struct slot *sl = &s->slots[i];
        if (!sl->job || sl->generating) continue;
        int32_t k = sl->job->n_tokens - sl->n_fed;
        if (k > budget) k = budget;
        s->items[n] = (struct flm_seq_batch){.seq = i, .tokens = sl->job->tokens + sl->n_fed, .n_tokens = k};
        s->item_slot[n++] = i;
        budget -= k;
    }
    return n;
}

// Samples slot i's next token and streams its text; under mu.
static void slot_sample_locked(struct flm_sched *s, int32_t i) {
    struct slot *sl = &s->slots[i];
    struct flm_job *j = sl->job;
    const int32_t tok = flm_sampler_sample(j->smp, flm_get_logits_seq(s->ctx, i, -1));
    if (flm_token_is_eog(s->model, tok)) {
        slot_end_locked(s, i, FLM_FINISH_STOP, NULL);
        return;
    }
    if (j->n_gen++ == 0) j->t_first = now_s() - j->t_submit;
    s->st.n_gen_tokens++;
    char piece[256];
    const int32_t k = flm_token_to_piece(s->model, tok, piece, (int32_t)sizeof piece, false);
    bool ok;
    const size_t ready = flm_textout_push(&j->tout, piece, k > 0 ? (size_t)k : 0, &ok);
    if (!ok || !job_put_locked(j, j->tout.buf, ready)) {
        slot_end_locked(s, i, FLM_FINISH_ABORT, "out of memory");
        return;
    }
    flm_textout_consume(&j->tout, ready);
    if (j->tout.stopped) {
        slot_end_locked(s, i, FLM_FINISH_STOP, NULL);
        return;
    }
    if (j->n_gen == j->n_max || sl->n_cache >= s->n_ctx) {
        slot_end_locked(s, i, FLM_FINISH_LENGTH, NULL);
        return;
    }
    sl->next_tok = tok;
    sl->generating = true;
}

static void step(struct flm_sched *s) {
    const int32_t n = build_items(s);
    if (!n) return;
    const double t0 = now_s();
    struct flm_err err = {0};
    const flm_status st = flm_eval_seqs(s->ctx, s->items, n, &err);
    pthread_mutex_lock(&s->mu);
    s->st.busy_seconds += now_s() - t0;
    for (int32_t k = 0; k < n; k++) {
        const int32_t i = s->item_slot[k];
        struct slot *sl = &s->slots[i];
        if (st) {  // nothing was evaluated; the call's jobs end with the engine's message
            slot_end_locked(s, i, FLM_FINISH_ABORT, err.msg);
            continue;
        }
        memcpy(sl->cache + sl->n_cache, s->items[k].tokens, (size_t)s->items[k].n_tokens * sizeof(int32_t));
        sl->n_cache += s->items[k].n_tokens;
        if (!sl->generating) {
            sl->n_fed += s->items[k].n_tokens;
            s->st.n_prompt_tokens += (uint64_t)s->items[k].n_tokens;
            if (sl->n_fed < sl->job->n_tokens) continue;
        }
        slot_sample_locked(s, i);
    }
    pthread_mutex_unlock(&s->mu);
}

static void *sched_main(void *arg) {
    struct flm_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        reap_locked(s);
        if (s->stopping) break;
        admit_locked(s);
        if (!s->n_busy) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        step(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

// ---------------------------------------------------------------- lifetime

flm_status flm_sched_init(struct flm_sched **out, const struct flm_model *model, const struct flm_sched_params *p,
                          struct flm_err *err) {
    *out = NULL;
    if (p->n_parallel < 1 || p->n_parallel > 256)
        return flm_err_set(err, FLM_ERR_INVALID, "serve: --parallel %d not in [1, 256]", p->n_parallel);
    if (p->n_queue < 0) return flm_err_set(err, FLM_ERR_INVALID, "serve: queue length %d is negative", p->n_queue);
    struct flm_sched *s = calloc(1, sizeof *s);
    if (!s) return flm_err_set(err, FLM_ERR_NOMEM, "serve: out of memory");
    s->model = model;
    s->n_parallel = p->n_parallel;
    s->n_queue = p->n_queue;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = p->n_ctx;
    cp.n_threads = p->n_threads;
    if (p->n_batch) cp.n_batch = p->n_batch;
    cp.n_seq = p->n_parallel;
    if (cp.n_batch < p->n_parallel) cp.n_batch = p->n_parallel;  // one logits row per slot per step
    flm_status st = flm_context_init(&s->ctx, model, &cp, err);
    if (st) {
        free(s);
        return st;
    }
    s->n_ctx = flm_context_n_ctx(s->ctx);
    s->n_batch = flm_context_n_batch(s->ctx);
    s->slots = calloc((size_t)s->n_parallel, sizeof *s->slots);
    s->items = calloc((size_t)s->n_parallel, sizeof *s->items);
    s->item_slot = calloc((size_t)s->n_parallel, sizeof *s->item_slot);
    bool ok = s->slots && s->items && s->item_slot;
    for (int32_t i = 0; ok && i < s->n_parallel; i++)
        ok = (s->slots[i].cache = malloc((size_t)s->n_ctx * sizeof(int32_t))) != NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!ok || pthread_create(&s->thread, NULL, sched_main, s)) {
        flm_sched_free(s);
        return flm_err_set(err, FLM_ERR_NOMEM, "serve: cannot allocate %d slots or start the scheduler", p->n_parallel);
    }
    s->started = true;
    *out = s;
    return FLM_OK;
}

int32_t flm_sched_n_ctx(const struct flm_sched *s) { return s->n_ctx; }

void flm_sched_shutdown(struct flm_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->thread, NULL);
    s->started = false;
}

void flm_sched_free(struct flm_sched *s) {
    if (!s) return;
    flm_sched_shutdown(s);
    for (int32_t i = 0; s->slots && i < s->n_parallel; i++) free(s->slots[i].cache);
    free(s->slots);
    free(s->items);
    free(s->item_slot);
    flm_context_free(s->ctx);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void flm_sched_stats(struct flm_sched *s, struct flm_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->n_queued = s->n_queued;
    out->n_busy = s->n_busy;
    out->n_parallel = s->n_parallel;
    pthread_mutex_unlock(&s->mu);
}
