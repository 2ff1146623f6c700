// sched.h - the request scheduler: continuous batching over one context.
//
// One thread owns one flm_context with n_parallel sequences (slots). Each
// step it admits queued jobs into free slots (picking the slot whose cached
// tokens share the longest prefix with the job's prompt, and keeping that
// prefix), then advances every live slot together in one flm_eval_seqs call:
// a prompt chunk for slots still reading their prompt, one token for slots
// generating. Each slot samples with its own flm_sampler, and its text goes
// through a flm_textout (UTF-8 hold-back, stop sequences) into the job's
// output, which HTTP threads read with flm_job_wait.
//
// With speculation (params.spec, prompt lookup), a generating slot whose
// recent tokens repeat an earlier n-gram of its context feeds its pending
// token plus the continuation of that match, with every row's logits kept;
// the library's acceptance rule (decode/spec.h) keeps the longest acceptable
// prefix plus one token of the target's own, the rest is truncated from the
// slot's KV cache, and the tokens go out one by one through the same path as
// plain decoding (stops, max_tokens and EOG end a run midway). A step that
// verifies drafts evaluates every row in one-token float order, so a request
// served alone gets, token for token, the greedy output of plain decoding.
// Adaptive (spec.adaptive): a slot's draft length grows by 2 after a fully
// accepted draft and shrinks by 1 after a rejection, and a slot whose drafts
// keep failing stops drafting for a while (doubling).
//
// Threads: flm_sched_submit, flm_job_* and flm_sched_stats may be called
// from any thread. A job has two owners, the submitter and the scheduler;
// the submitter calls flm_job_release exactly once (which cancels the job if
// it is still running, so a client that goes away frees its slot).
#ifndef FLM_SERVE_SCHED_H
#define FLM_SERVE_SCHED_H

#include "flashlm.h"
#include "serve/textout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_sched;
struct flm_job;

struct flm_sched_params {
    int32_t n_parallel;  // slots (sequences advanced together)
    int32_t n_queue;     // jobs waiting beyond the slots before submit refuses
    int32_t n_ctx;       // tokens of KV cache per slot (0: the library's default)
    int32_t n_batch;     // tokens per step over all slots (0: the library's default)
    int32_t n_threads;   // 0: all cores
    // Speculation: mode FLM_SPEC_LOOKUP (prompt lookup per slot) or NONE
    // (zero); draft_max, ngram_min/max and adaptive as in flm_spec_params.
    // A generating slot's step then carries its pending token and a draft
    // found in its own tokens, verified in the same pass as the other slots.
    struct flm_spec_params spec;
};

flm_status flm_sched_init(struct flm_sched **out, const struct flm_model *model, const struct flm_sched_params *p,
                          struct flm_err *err);
// Stops admitting, ends every queued and running job (finish ABORT, "the
// server is shutting down") and joins the thread. Jobs stay readable.
void flm_sched_shutdown(struct flm_sched *s);
// After shutdown and after every job was released.
void flm_sched_free(struct flm_sched *s);

int32_t flm_sched_n_ctx(const struct flm_sched *s);  // per slot

enum flm_finish {
    FLM_FINISH_NONE,    // still running
    FLM_FINISH_STOP,    // end of generation or a stop sequence
    FLM_FINISH_LENGTH,  // max_tokens or the context is full
    FLM_FINISH_ABORT,   // cancelled, shutdown or an engine error (see error)
};

struct flm_job_spec {
    int32_t            *tokens;    // the prompt; the job takes ownership on success
    int32_t             n_tokens;  // 1 .. n_ctx
    int32_t             n_max;     // tokens to generate; -1: until EOG or the context is full
    struct flm_sampler *smp;       // the job takes ownership on success
    const char         *stop[FLM_TEXTOUT_MAX_STOP];  // copied
    int                 n_stop;
};

enum flm_submit {
    FLM_SUBMIT_OK,
    FLM_SUBMIT_FULL,      // slots and queue are full: try again later (503)
    FLM_SUBMIT_CLOSED,    // shutting down (503)
    FLM_SUBMIT_NOMEM,
};
enum flm_submit flm_sched_submit(struct flm_sched *s, struct flm_job_spec *spec, struct flm_job **out);

// What a reader has seen of a job so far.
struct flm_job_out {
    char           *text;  // sanitized UTF-8 produced since the last take, NUL-terminated; reader frees
    size_t          len, cap;
    bool            done;
    enum flm_finish finish;
    int32_t         n_prompt, n_gen;
    bool            spec;     // the server speculates (then the three counts below are this job's)
    int32_t         n_spec_steps, n_drafted, n_accepted;
    double          t_first;  // seconds from submit to the first token (0 before)
    char            error[256];
};
// Waits up to timeout_ms for new text or the end, then appends the new text
// to out->text (taking it from the job) and updates the rest of *out.
void flm_job_wait(struct flm_job *j, int timeout_ms, struct flm_job_out *out);
void flm_job_cancel(struct flm_job *j);
void flm_job_release(struct flm_job *j);

struct flm_sched_stats {
    uint64_t n_jobs;           // submitted
    uint64_t n_prompt_tokens;  // evaluated (after prefix reuse)
    uint64_t n_cached_tokens;  // prompt tokens reused from a slot's cache
    uint64_t n_gen_tokens;
    double   busy_seconds;     // time spent in steps
    uint64_t n_spec_passes;    // slot steps that verified a draft
    uint64_t n_drafted;        // drafted tokens verified
    uint64_t n_accepted;       // drafted tokens accepted
    int32_t  n_queued, n_busy, n_parallel;
};
void flm_sched_stats(struct flm_sched *s, struct flm_sched_stats *out);

#endif
