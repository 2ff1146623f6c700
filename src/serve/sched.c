// sched.c - the scheduler thread: admit, batch, sample, stream.
#include "serve/sched.h"

#include "core/status.h"
#include "decode/spec.h"
#include "model/context.h"

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
    int32_t             n_spec_steps, n_drafted, n_accepted;  // this job's verifying steps and drafts
    double              t_first;
    char                error[256];
};

struct slot {
    struct flm_job *job;      // NULL: free
    int32_t        *cache;    // [n_ctx + 1] tokens whose KV the sequence holds (+ room for the pending one)
    int32_t         n_cache;
    int32_t         n_fed;    // prompt tokens evaluated
    int32_t         next_tok; // the token to feed when generating
    bool            generating;
    // speculation
    int32_t         vtok[FLM_SPEC_MAX_DRAFT + 1];  // this step's item: next_tok, then the draft
    int32_t         n_draft;  // drafted tokens in vtok this step (0: plain)
    double          acc_s, acc_n;  // decayed accepted drafts / drafts tried
    int32_t         off;      // steps left without drafting
    int32_t         backoff;  // length of the next pause
    int32_t         k_cur;    // draft length now (adaptive: +2 after a fully accepted draft, -1 after a rejection)
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
    struct flm_spec_params  spec;             // mode NONE: no speculation
    float                  *p_dense;          // [n_vocab] acceptance scratch
    int32_t                 acc[FLM_SPEC_MAX_DRAFT + 1];  // tokens a verify step yields
};

// Below this decayed acceptance rate a slot pauses drafting (adaptive).
#define SPEC_MIN_ACCEPTANCE 0.3

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
    out->spec = s->spec.mode != FLM_SPEC_NONE;
    out->n_spec_steps = j->n_spec_steps;
    out->n_drafted = j->n_drafted;
    out->n_accepted = j->n_accepted;
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
        sl->acc_s = 1.0, sl->acc_n = 2.0, sl->off = 0, sl->backoff = 4;
        sl->k_cur = s->spec.draft_max < 4 ? s->spec.draft_max : 4;
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

// Prompt lookup for a generating slot: up to kmax tokens that followed the
// latest earlier occurrence of its last n-gram (the pending token included),
// into vtok[1..]. Returns the count; 0 while the slot pauses drafting.
static int32_t slot_draft(struct flm_sched *s, struct slot *sl, int32_t kmax) {
    const struct flm_job *j = sl->job;
    if (s->spec.mode != FLM_SPEC_LOOKUP) return 0;
    if (s->spec.adaptive && sl->off > 0) {
        sl->off--;
        return 0;
    }
    if (s->spec.adaptive && kmax > sl->k_cur) kmax = sl->k_cur;
    if (kmax > s->n_ctx - sl->n_cache - 1) kmax = s->n_ctx - sl->n_cache - 1;  // x and the draft must fit
    if (j->n_max >= 0 && kmax > j->n_max - j->n_gen - 1) kmax = j->n_max - j->n_gen - 1;  // no use past max_tokens
    if (kmax <= 0) return 0;
    sl->cache[sl->n_cache] = sl->next_tok;
    return flm_spec_lookup(sl->cache, sl->n_cache + 1, s->spec.ngram_min, s->spec.ngram_max, kmax, sl->vtok + 1);
}

// Items for every live slot: generating slots first (their pending token,
// and a draft from what n_batch has left after one row per generating
// slot), then prompt chunks from what is left of n_batch. Returns the item
// count; *verify says whether some slot drafted.
static int32_t build_items(struct flm_sched *s, bool *verify) {
    int32_t n = 0, budget = s->n_batch;
    *verify = false;
    for (int32_t i = 0; i < s->n_parallel; i++)
        if (s->slots[i].job && s->slots[i].generating) budget--;
    for (int32_t i = 0; i < s->n_parallel; i++) {
        struct slot *sl = &s->slots[i];
        if (!sl->job || !sl->generating) continue;
        const int32_t kmax = budget < s->spec.draft_max ? budget : s->spec.draft_max;
        sl->n_draft = slot_draft(s, sl, kmax);
        budget -= sl->n_draft;
        *verify |= sl->n_draft > 0;
        sl->vtok[0] = sl->next_tok;
        s->items[n] = (struct flm_seq_batch){.seq = i, .tokens = sl->vtok, .n_tokens = 1 + sl->n_draft,
                                             .all_logits = sl->n_draft > 0};
        s->item_slot[n++] = i;
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

// Streams token tok, sampled after n_held tokens of slot i's sequence were
// evaluated; under mu. Returns false when the job ended with it.
static bool slot_emit_locked(struct flm_sched *s, int32_t i, int32_t tok, int32_t n_held) {
    struct slot *sl = &s->slots[i];
    struct flm_job *j = sl->job;
    if (flm_token_is_eog(s->model, tok)) {
        slot_end_locked(s, i, FLM_FINISH_STOP, NULL);
        return false;
    }
    if (j->n_gen++ == 0) j->t_first = now_s() - j->t_submit;
    s->st.n_gen_tokens++;
    char piece[256];
    const int32_t k = flm_token_to_piece(s->model, tok, piece, (int32_t)sizeof piece, false);
    bool ok;
    const size_t ready = flm_textout_push(&j->tout, piece, k > 0 ? (size_t)k : 0, &ok);
    if (!ok || !job_put_locked(j, j->tout.buf, ready)) {
        slot_end_locked(s, i, FLM_FINISH_ABORT, "out of memory");
        return false;
    }
    flm_textout_consume(&j->tout, ready);
    if (j->tout.stopped) {
        slot_end_locked(s, i, FLM_FINISH_STOP, NULL);
        return false;
    }
    if (j->n_gen == j->n_max || n_held >= s->n_ctx) {
        slot_end_locked(s, i, FLM_FINISH_LENGTH, NULL);
        return false;
    }
    sl->next_tok = tok;
    sl->generating = true;
    return true;
}

// Samples slot i's next token after a plain step and streams it; under mu.
static void slot_sample_locked(struct flm_sched *s, int32_t i) {
    struct slot *sl = &s->slots[i];
    slot_emit_locked(s, i, flm_sampler_sample(sl->job->smp, flm_get_logits_seq(s->ctx, i, -1)), sl->n_cache);
}

// After a verify step of slot i (its sequence holds P = n_cache tokens, then
// next_tok and n_draft drafted ones): accepts, drops the rejected tokens'
// KV entries, learns the acceptance rate and streams the tokens; under mu.
static void slot_verify_locked(struct flm_sched *s, int32_t i) {
    struct slot *sl = &s->slots[i];
    const int32_t k = sl->n_draft, P = sl->n_cache;
    const int32_t n = flm_spec_accept_rows(s->ctx, i, sl->job->smp, sl->vtok + 1, k, NULL, NULL, s->p_dense, s->acc);
    flm_seq_truncate(s->ctx, i, P + n, NULL);  // keep x and the accepted drafts; the last token out is pending
    sl->cache[P] = sl->vtok[0];
    memcpy(sl->cache + P + 1, s->acc, (size_t)(n - 1) * sizeof(int32_t));
    sl->n_cache = P + n;
    int32_t acc = 0;
    while (acc < n && acc < k && s->acc[acc] == sl->vtok[1 + acc]) acc++;
    s->st.n_spec_passes++;
    s->st.n_drafted += (uint64_t)k;
    s->st.n_accepted += (uint64_t)acc;
    sl->job->n_spec_steps++;
    sl->job->n_drafted += k;
    sl->job->n_accepted += acc;
    sl->acc_s = 0.8 * sl->acc_s + acc;
    sl->acc_n = 0.8 * sl->acc_n + (acc < k ? acc + 1 : k);
    if (acc == k) sl->k_cur = sl->k_cur + 2 < s->spec.draft_max ? sl->k_cur + 2 : s->spec.draft_max;
    else if (sl->k_cur > 1) sl->k_cur--;
    if (sl->acc_s < SPEC_MIN_ACCEPTANCE * sl->acc_n) {
        sl->off = sl->backoff;
        sl->backoff = sl->backoff < 128 ? 2 * sl->backoff : 128;
    } else {
        sl->backoff = 4;
    }
    for (int32_t t = 0; t < n; t++)
        if (!slot_emit_locked(s, i, s->acc[t], P + 1 + t)) return;
}

static void step(struct flm_sched *s) {
    bool verify;
    const int32_t n = build_items(s, &verify);
    if (!n) return;
    const double t0 = now_s();
    struct flm_err err = {0};
    const struct flm_eval_opts o = {.row_order = verify};
    const flm_status st = flm_eval_seqs_opts(s->ctx, s->items, n, &o, &err);
    pthread_mutex_lock(&s->mu);
    s->st.busy_seconds += now_s() - t0;
    for (int32_t k = 0; k < n; k++) {
        const int32_t i = s->item_slot[k];
        struct slot *sl = &s->slots[i];
        if (st) {  // nothing was evaluated; the call's jobs end with the engine's message
            slot_end_locked(s, i, FLM_FINISH_ABORT, err.msg);
            continue;
        }
        if (sl->generating && sl->n_draft > 0) {
            slot_verify_locked(s, i);
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
    const struct flm_spec_params *sp = &p->spec;
    if (sp->mode == FLM_SPEC_SELF || sp->mode == FLM_SPEC_DRAFT)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "serve: --spec %s is not supported by the server (it would need a drafter context per "
                           "slot); use --spec lookup",
                           sp->mode == FLM_SPEC_SELF ? "self" : "draft");
    if (sp->mode != FLM_SPEC_NONE && sp->mode != FLM_SPEC_LOOKUP)
        return flm_err_set(err, FLM_ERR_INVALID, "serve: unknown speculation mode %d", (int)sp->mode);
    if (sp->mode == FLM_SPEC_LOOKUP && (sp->draft_max < 1 || sp->draft_max > FLM_SPEC_MAX_DRAFT))
        return flm_err_set(err, FLM_ERR_INVALID, "serve: --draft-max %d not in 1..%d", sp->draft_max,
                           FLM_SPEC_MAX_DRAFT);
    if (sp->mode == FLM_SPEC_LOOKUP && (sp->ngram_min < 1 || sp->ngram_max < sp->ngram_min))
        return flm_err_set(err, FLM_ERR_INVALID, "serve: n-gram sizes %d..%d: need 1 <= min <= max", sp->ngram_min,
                           sp->ngram_max);
    struct flm_sched *s = calloc(1, sizeof *s);
    if (!s) return flm_err_set(err, FLM_ERR_NOMEM, "serve: out of memory");
    s->model = model;
    s->n_parallel = p->n_parallel;
    s->n_queue = p->n_queue;
    s->spec = p->spec;
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
    s->p_dense = malloc((size_t)model->hp.n_vocab * sizeof(float));
    bool ok = s->slots && s->items && s->item_slot && s->p_dense;
    for (int32_t i = 0; ok && i < s->n_parallel; i++)
        ok = (s->slots[i].cache = malloc(((size_t)s->n_ctx + 1) * sizeof(int32_t))) != NULL;
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
    free(s->p_dense);
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
