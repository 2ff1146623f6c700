// spec.c - speculative decoding: the handle, one draft-verify-accept step,
// and the controller that picks the draft length from measured costs.
//
// Exactness: the verify pass evaluates [x, d1..dk] with flm_eval_opts'
// row_order, so row i's logits carry the bits a one-token pass after x,
// d1..di would give, and the KV entries it writes are those plain decoding
// writes. Rejected tokens' entries are dropped with flm_context_truncate.
// Greedy output is therefore plain greedy output, token for token.
//
// Cost control (LLMCad's self-adjusting fallback): the controller keeps a
// decayed acceptance rate a, the measured time of a one-token pass t1, the
// measured extra time per verified row s and per drafted token td. A draft of
// k tokens yields (1 - a^(k+1)) / (1 - a) tokens for t1 + k (s + td); it
// takes the k with the best rate, and when even that is below plain
// decoding's 1 / t1 it decodes plainly for a while (doubling the wait each
// time a probe fails) before probing again.
#include "decode/spec.h"

#include "decode/sampler.h"
#include "model/context.h"
#include "text/vocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct controller {
    double  acc_s, acc_n;  // decayed accepted drafts / drafts tried (until the first rejection)
    double  t1;            // s, one-token pass (0 until measured)
    double  slope;         // s per extra verified row beyond the first
    double  td;            // s per drafted token
    int32_t off;           // plain steps left before speculation is tried again
    int32_t backoff;       // length of the next fallback
    bool    probe;         // the fallback ran out: speculate once whatever the estimate
};

struct flm_spec {
    struct flm_spec_params p;
    struct flm_context    *ctx;      // target, borrowed
    const struct flm_model *model;
    int32_t                n_vocab;
    int32_t               *hist;     // [n_ctx + 1] the context's tokens, then the pending one
    int32_t                n_hist;
    int32_t                n_seen;   // context position when spec last left it (-1: unknown tokens)
    uint8_t               *layers;   // [n_layer] SELF: the layers the drafter runs
    struct flm_context    *dctx;     // DRAFT: the draft model's context
    float                 *p_dense;  // [n_vocab] target distribution of one row
    float                 *q;        // [draft_max][n_vocab] drafter distributions (SELF, DRAFT)
    bool                   q_hot[FLM_SPEC_MAX_DRAFT];  // q row i is one-hot at the drafted token (not stored)
    int32_t                draft[FLM_SPEC_MAX_DRAFT + 1];
    struct controller      ctl;
    struct flm_spec_stats  st;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double ema(double old, double x) { return old > 0.0 ? 0.8 * old + 0.2 * x : x; }

// ---------------------------------------------------------------- init / free

struct flm_spec_params flm_spec_params_default(void) {
    return (struct flm_spec_params){.mode = FLM_SPEC_NONE, .draft_max = 8, .adaptive = true, .ngram_min = 2,
                                    .ngram_max = 4};
}

static flm_status check_params(const struct flm_spec_params *p, const struct flm_context *ctx, struct flm_err *err) {
    if (p->mode < FLM_SPEC_NONE || p->mode > FLM_SPEC_DRAFT)
        return flm_err_set(err, FLM_ERR_INVALID, "spec: unknown mode %d", (int)p->mode);
    if (p->draft_max < 1 || p->draft_max > FLM_SPEC_MAX_DRAFT)
        return flm_err_set(err, FLM_ERR_INVALID, "spec: draft_max %d not in 1..%d", p->draft_max, FLM_SPEC_MAX_DRAFT);
    if (p->draft_max > ctx->n_batch - 1)
        return flm_err_set(err, FLM_ERR_INVALID, "spec: draft_max %d needs n_batch >= %d (it is %d)", p->draft_max,
                           p->draft_max + 1, ctx->n_batch);
    if (p->mode == FLM_SPEC_LOOKUP && (p->ngram_min < 1 || p->ngram_max < p->ngram_min))
        return flm_err_set(err, FLM_ERR_INVALID, "spec: n-gram sizes %d..%d: need 1 <= ngram_min <= ngram_max",
                           p->ngram_min, p->ngram_max);
    if (p->mode == FLM_SPEC_DRAFT && !p->draft_model)
        return flm_err_set(err, FLM_ERR_INVALID, "spec: mode 'draft' needs a draft model");
    return FLM_OK;
}

static flm_status open_draft(struct flm_spec *sp, struct flm_err *err) {
    flm_status s = flm_spec_check_vocab(sp->model, sp->p.draft_model, err);
    if (s) return s;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = sp->ctx->n_ctx;
    cp.n_batch = sp->ctx->n_batch;
    cp.n_threads = flm_pool_size(sp->ctx->pool);
    if (cp.n_ctx > sp->p.draft_model->hp.n_ctx_train)
        return flm_err_set(err, FLM_ERR_INVALID, "draft: context %d exceeds the draft model's training context %d",
                           cp.n_ctx, sp->p.draft_model->hp.n_ctx_train);
    return flm_context_init(&sp->dctx, sp->p.draft_model, &cp, err);
}

flm_status flm_spec_init(struct flm_spec **out, struct flm_context *ctx, const struct flm_spec_params *params,
                         struct flm_err *err) {
    if (!out || !ctx) return flm_err_set(err, FLM_ERR_INVALID, "spec: NULL argument");
    *out = NULL;
    const struct flm_spec_params p = params ? *params : flm_spec_params_default();
    flm_status s = check_params(&p, ctx, err);
    if (s) return s;
    struct flm_spec *sp = calloc(1, sizeof *sp);
    if (!sp) return flm_err_set(err, FLM_ERR_NOMEM, "spec: out of memory");
    sp->p = p;
    sp->ctx = ctx;
    sp->model = ctx->model;
    sp->n_vocab = ctx->model->hp.n_vocab;
    sp->ctl = (struct controller){.acc_s = 1.0, .acc_n = 2.0, .backoff = 4};
    const bool model_drafter = p.mode == FLM_SPEC_SELF || p.mode == FLM_SPEC_DRAFT;
    sp->hist = malloc(sizeof(int32_t) * ((size_t)ctx->n_ctx + 1));
    sp->p_dense = malloc(sizeof(float) * (size_t)sp->n_vocab);
    if (model_drafter) sp->q = malloc(sizeof(float) * (size_t)sp->n_vocab * (size_t)p.draft_max);
    if (p.mode == FLM_SPEC_SELF) sp->layers = malloc((size_t)sp->model->hp.n_layer);
    if (!sp->hist || !sp->p_dense || (model_drafter && !sp->q) || (p.mode == FLM_SPEC_SELF && !sp->layers)) {
        flm_spec_free(sp);
        return flm_err_set(err, FLM_ERR_NOMEM, "spec: out of memory for a context of %d tokens", ctx->n_ctx);
    }
    if (p.mode == FLM_SPEC_SELF) s = flm_spec_parse_layers(p.self_layers, sp->model->hp.n_layer, sp->layers, err);
    if (!s && p.mode == FLM_SPEC_DRAFT) s = open_draft(sp, err);
    if (s) {
        flm_spec_free(sp);
        return s;
    }
    sp->n_seen = flm_context_pos(ctx) > 0 ? -1 : 0;  // unknown tokens: flm_spec_begin refuses them unless truncated away
    *out = sp;
    return FLM_OK;
}

void flm_spec_free(struct flm_spec *sp) {
    if (!sp) return;
    flm_context_free(sp->dctx);
    free(sp->hist);
    free(sp->p_dense);
    free(sp->q);
    free(sp->layers);
    free(sp);
}

void flm_spec_get_stats(const struct flm_spec *sp, struct flm_spec_stats *out) { *out = sp->st; }
void flm_spec_reset_stats(struct flm_spec *sp) { memset(&sp->st, 0, sizeof sp->st); }
struct flm_context *flm_spec_context(const struct flm_spec *sp) { return sp->ctx; }

// ---------------------------------------------------------------- history

flm_status flm_spec_begin(struct flm_spec *sp, const int32_t *prompt, int32_t n_prompt, struct flm_err *err) {
    const int32_t pos = flm_context_pos(sp->ctx);
    if (pos > 0 && pos > sp->n_seen)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "spec: the context holds %d tokens the drafter has not seen (evaluate through "
                           "flm_generate_spec, or truncate the context)",
                           pos - (sp->n_seen < 0 ? 0 : sp->n_seen));
    sp->n_hist = pos;
    if (n_prompt > sp->ctx->n_ctx - pos)
        return flm_err_set(err, FLM_ERR_CONTEXT, "spec: %d prompt tokens do not fit after %d of %d", n_prompt, pos,
                           sp->ctx->n_ctx);
    if (sp->dctx && flm_context_pos(sp->dctx) > pos) flm_context_truncate(sp->dctx, pos, NULL);
    memcpy(sp->hist + sp->n_hist, prompt, sizeof(int32_t) * (size_t)n_prompt);
    sp->n_hist += n_prompt;
    return FLM_OK;
}

void flm_spec_push(struct flm_spec *sp, int32_t x) {
    sp->hist[sp->n_hist++] = x;
    sp->n_seen = flm_context_pos(sp->ctx);
}

void flm_spec_rewind(struct flm_spec *sp, int32_t keep) {
    flm_context_truncate(sp->ctx, keep, NULL);
    if (sp->dctx && flm_context_pos(sp->dctx) > keep) flm_context_truncate(sp->dctx, keep, NULL);
    sp->n_hist = keep + 1;
    sp->n_seen = keep;
}

// ---------------------------------------------------------------- controller

static double acceptance(const struct controller *c) {
    const double a = c->acc_s / c->acc_n;
    return a < 0.01 ? 0.01 : a > 0.99 ? 0.99 : a;
}

// Expected tokens per second of a draft of k, relative to plain decoding.
static double gain(const struct controller *c, int32_t k) {
    const double a = acceptance(c);
    const double tokens = (1.0 - pow(a, k + 1)) / (1.0 - a);
    return tokens * c->t1 / (c->t1 + k * (c->slope + c->td));
}

// Draft length for the next step (0: decode plainly).
static int32_t choose(struct flm_spec *sp, int32_t kmax) {
    struct controller *c = &sp->ctl;
    if (kmax <= 0) return 0;
    if (!sp->p.adaptive) return kmax;
    if (c->t1 == 0.0) return 0;  // measure a plain pass first
    int32_t best = 1;
    for (int32_t k = 2; k <= kmax; k++)
        if (gain(c, k) > gain(c, best)) best = k;
    if (c->off > 0) {
        c->probe = --c->off == 0;
        return 0;
    }
    if (!c->probe && gain(c, best) < 1.0) {
        c->off = c->backoff;
        c->backoff = c->backoff < 128 ? 2 * c->backoff : 128;
        return 0;
    }
    c->probe = false;
    return best;
}

static void learn(struct flm_spec *sp, int32_t k, int32_t j, double verify_s, double draft_s) {
    struct controller *c = &sp->ctl;
    const int32_t tried = j < k ? j + 1 : k;
    c->acc_s = 0.8 * c->acc_s + j;
    c->acc_n = 0.8 * c->acc_n + tried;
    if (c->t1 > 0.0) {
        const double s = (verify_s - c->t1) / k;
        c->slope = ema(c->slope, s > 0.0 ? s : 0.0);
    }
    if (draft_s > 0.0) c->td = ema(c->td, draft_s / k);
    if (gain(c, k) >= 1.0) c->backoff = 4;
}

// ---------------------------------------------------------------- drafting

// Draws drafted token i from a drafter's logits with the target's sampler
// chain; q row i gets its distribution (or q_hot when it is one token).
static int32_t draft_pick(struct flm_spec *sp, struct flm_sampler *smp, int32_t i, const float *logits) {
    const struct flm_token_prob *c;
    const int32_t n = flm_sampler_dist(smp, logits, &c);
    sp->q_hot[i] = n == 1;
    if (n == 1) return c[0].id;
    float *q = sp->q + (size_t)i * (size_t)sp->n_vocab;
    memset(q, 0, sizeof(float) * (size_t)sp->n_vocab);
    for (int32_t t = 0; t < n; t++) q[c[t].id] = c[t].v;
    const double u = flm_sampler_unit(smp);
    double cum = 0.0;
    int32_t pick = c[0].id;
    for (int32_t t = 0; t < n; t++) {
        if (c[t].v <= 0.0f) continue;
        pick = c[t].id;
        cum += c[t].v;
        if (u < cum) break;
    }
    return pick;
}

// SELF: the chosen layers of the target on its own context, one token at a
// time from position P; the entries they write are overwritten by the verify
// pass or truncated away.
static flm_status draft_self(struct flm_spec *sp, struct flm_sampler *smp, int32_t k, struct flm_err *err) {
    const struct flm_eval_opts o = {.layers = sp->layers};
    const int32_t P = flm_context_pos(sp->ctx);
    flm_status s = FLM_OK;
    for (int32_t i = 0; i < k && !s; i++) {
        const int32_t tok = i == 0 ? sp->hist[sp->n_hist - 1] : sp->draft[i - 1];
        if (!(s = flm_eval_opts(sp->ctx, &tok, 1, false, &o, err))) sp->draft[i] = draft_pick(sp, smp, i, flm_get_logits(sp->ctx, -1));
    }
    flm_context_truncate(sp->ctx, P, NULL);
    return s;
}

// DRAFT: the draft model first catches up on the tokens it has not seen (in
// one pass), then drafts one token at a time.
static flm_status draft_model(struct flm_spec *sp, struct flm_sampler *smp, int32_t k, struct flm_err *err) {
    const int32_t have = flm_context_pos(sp->dctx);
    flm_status s = flm_eval(sp->dctx, sp->hist + have, sp->n_hist - have, false, err);
    for (int32_t i = 0; i < k && !s; i++) {
        sp->draft[i] = draft_pick(sp, smp, i, flm_get_logits(sp->dctx, -1));
        if (i + 1 < k) s = flm_eval(sp->dctx, &sp->draft[i], 1, false, err);
    }
    return s;
}

static int32_t draft(struct flm_spec *sp, struct flm_sampler *smp, int32_t k, struct flm_err *err) {
    flm_status s = FLM_OK;
    switch (sp->p.mode) {
    case FLM_SPEC_LOOKUP:
        k = flm_spec_lookup(sp->hist, sp->n_hist, sp->p.ngram_min, sp->p.ngram_max, k, sp->draft);
        for (int32_t i = 0; i < k; i++) sp->q_hot[i] = true;
        break;
    case FLM_SPEC_SELF: s = draft_self(sp, smp, k, err); break;
    case FLM_SPEC_DRAFT: s = draft_model(sp, smp, k, err); break;
    default: k = 0;
    }
    return s ? (int32_t)s : k;
}

// ---------------------------------------------------------------- verification

// Walks the verify pass's rows: accepts drafts while the rule allows, then
// one token of the target's own. Returns the count written to out.
static int32_t accept_rows(struct flm_spec *sp, struct flm_sampler *smp, int32_t k, int32_t *out) {
    int32_t n = 0;
    for (int32_t i = 0; i < k; i++) {
        const float *logits = flm_get_logits(sp->ctx, i);
        const int32_t x = sp->draft[i];
        const struct flm_token_prob *c;
        const int32_t nc = flm_sampler_dist(smp, logits, &c);
        bool ok;
        int32_t y;
        if (nc == 1) {  // greedy (or one survivor): the rule accepts x only if it is that token
            y = c[0].id;
            ok = y == x;
        } else {
            memset(sp->p_dense, 0, sizeof(float) * (size_t)sp->n_vocab);
            for (int32_t t = 0; t < nc; t++) sp->p_dense[c[t].id] = c[t].v;
            const float *q = sp->q_hot[i] ? NULL : sp->q + (size_t)i * (size_t)sp->n_vocab;
            y = flm_spec_accept(sp->p_dense, q, sp->n_vocab, x, smp, &ok);
        }
        flm_sampler_accept(smp, y);
        out[n++] = y;
        if (!ok || flm_token_is_eog(sp->model, y)) return n;
    }
    out[n++] = flm_sampler_sample(smp, flm_get_logits(sp->ctx, k));
    return n;
}

static int32_t plain_step(struct flm_spec *sp, struct flm_sampler *smp, int32_t *out, struct flm_err *err) {
    const double t0 = now_s();
    flm_status s = flm_eval(sp->ctx, &sp->hist[sp->n_hist - 1], 1, false, err);
    if (s) return s;
    out[0] = flm_sampler_sample(smp, flm_get_logits(sp->ctx, -1));
    sp->ctl.t1 = ema(sp->ctl.t1, now_s() - t0);
    sp->st.n_plain++;
    sp->hist[sp->n_hist++] = out[0];
    sp->n_seen = flm_context_pos(sp->ctx);
    return 1;
}

int32_t flm_spec_step(struct flm_spec *sp, struct flm_sampler *smp, int32_t max_out, int32_t *out,
                      struct flm_err *err) {
    struct flm_context *ctx = sp->ctx;
    const int32_t P = flm_context_pos(ctx);
    int32_t kmax = sp->p.draft_max;
    if (kmax > max_out - 1) kmax = max_out - 1;
    if (kmax > ctx->n_ctx - P - 1) kmax = ctx->n_ctx - P - 1;
    int32_t k = choose(sp, kmax);
    double t0 = now_s(), draft_s = 0.0;
    if (k > 0) {
        k = draft(sp, smp, k, err);
        if (k < 0) return k;
        draft_s = now_s() - t0;
        sp->st.draft_seconds += draft_s;
    }
    if (k == 0) return plain_step(sp, smp, out, err);

    int32_t toks[FLM_SPEC_MAX_DRAFT + 1];
    toks[0] = sp->hist[sp->n_hist - 1];
    memcpy(toks + 1, sp->draft, sizeof(int32_t) * (size_t)k);
    t0 = now_s();
    const struct flm_eval_opts o = {.row_order = true};
    flm_status s = flm_eval_opts(ctx, toks, k + 1, true, &o, err);
    if (s) return s;
    const int32_t n = accept_rows(sp, smp, k, out);
    const double verify_s = now_s() - t0;
    // keep x and the accepted drafts: the last token out is pending
    flm_context_truncate(ctx, P + n, NULL);
    if (sp->dctx && flm_context_pos(sp->dctx) > P + n) flm_context_truncate(sp->dctx, P + n, NULL);
    memcpy(sp->hist + sp->n_hist, out, sizeof(int32_t) * (size_t)n);
    sp->n_hist += n;
    sp->n_seen = flm_context_pos(ctx);
    int32_t j = 0;
    while (j < n && j < k && out[j] == sp->draft[j]) j++;
    learn(sp, k, j, verify_s, draft_s);
    sp->st.n_passes++;
    sp->st.n_drafted += k;
    sp->st.n_accepted += j;
    sp->st.verify_seconds += verify_s;
    return n;
}
