// generate.c - the generation loop: prompt -> logits -> sample -> emit text.
//
// Text is streamed per token but never splits a UTF-8 character: bytes of an
// incomplete character are held back until the next token completes it.
#include "flashlm.h"

#include "core/status.h"
#include "decode/spec.h"
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct emitter {
    char   buf[512];  // pending bytes of an incomplete character + current piece
    size_t len;
};

// Appends a token's bytes and returns how many complete bytes can go out.
static size_t emit_ready(struct emitter *e, const char *piece, int32_t k) {
    if (k > 0 && e->len + (size_t)k <= sizeof e->buf) {
        memcpy(e->buf + e->len, piece, (size_t)k);
        e->len += (size_t)k;
    }
    return e->len - flm_utf8_incomplete_tail(e->buf, e->len);
}

// Emits the tokens of list[0..n) until one ends generation, the callback
// cancels or n_predict is reached; returns the index it stopped at (n: none).
static int32_t emit_list(const struct flm_model *model, const int32_t *list, int32_t n, int32_t n_predict,
                         flm_token_fn on_token, void *user, struct emitter *em, struct flm_gen_stats *st,
                         flm_status *s) {
    char piece[256];
    for (int32_t i = 0; i < n; i++) {
        const int32_t tok = list[i];
        if (flm_token_is_eog(model, tok)) {
            st->stopped_by_eog = true;
            return i;
        }
        st->n_generated++;
        int32_t k = flm_token_to_piece(model, tok, piece, (int32_t)sizeof piece, false);
        size_t ready = emit_ready(em, piece, k < 0 ? 0 : k);
        if (on_token && !on_token(user, tok, em->buf, ready)) {
            *s = FLM_ERR_CANCELLED;
            return i;
        }
        memmove(em->buf, em->buf + ready, em->len - ready);
        em->len -= ready;
        if (n_predict >= 0 && st->n_generated == n_predict) return i;
    }
    return n;
}

// The loop behind flm_generate_tokens (spec NULL) and flm_generate_spec:
// each step turns the pending token into the next ones, one without
// speculation, possibly several with it.
static flm_status generate(struct flm_context *ctx, struct flm_sampler *smp, struct flm_spec *spec,
                           const int32_t *prompt, int32_t n_prompt, int32_t n_predict, flm_token_fn on_token,
                           void *user, struct flm_gen_stats *stats, struct flm_err *err) {
    struct flm_gen_stats st = {.n_prompt = n_prompt};
    if (!ctx || !smp || !prompt || n_prompt <= 0)
        return flm_err_set(err, FLM_ERR_INVALID, "generate: need a context, a sampler and at least one prompt token");
    const int32_t n_ctx = flm_context_n_ctx(ctx), free_slots = n_ctx - flm_context_pos(ctx);
    if (n_prompt > free_slots)
        return flm_err_set(err, FLM_ERR_CONTEXT, "generate: the prompt has %d tokens but the context has room for %d (-c %d)",
                           n_prompt, free_slots, n_ctx);
    if (n_predict > 0 && n_prompt + n_predict > free_slots + 1)
        return flm_err_set(err, FLM_ERR_CONTEXT,
                           "generate: prompt (%d tokens) + %d to generate exceed the context (%d free of %d)", n_prompt,
                           n_predict, free_slots, n_ctx);
    const struct flm_model *model = flm_context_model(ctx);
    flm_status s;
    if (spec && (s = flm_spec_begin(spec, prompt, n_prompt, err))) return s;
    double t0 = now_s();
    if ((s = flm_eval(ctx, prompt, n_prompt, false, err))) return s;
    for (int32_t i = 0; i < n_prompt; i++) flm_sampler_accept(smp, prompt[i]);
    st.prompt_seconds = now_s() - t0;
    t0 = now_s();
    struct emitter em = {.len = 0};
    int32_t list[FLM_SPEC_MAX_DRAFT + 1];
    int32_t n = 1;
    if (n_predict != 0) list[0] = flm_sampler_sample(smp, flm_get_logits(ctx, -1));
    if (n_predict != 0 && spec) flm_spec_push(spec, list[0]);
    while (n_predict != 0) {
        const int32_t i = emit_list(model, list, n, n_predict, on_token, user, &em, &st, &s);
        if (i < n) {  // stopped at list[i]: it stays pending, as in plain decoding
            if (spec && i < n - 1) flm_spec_rewind(spec, flm_context_pos(ctx) - (n - 1 - i));
            break;
        }
        if (flm_context_pos(ctx) >= n_ctx) break;  // n_predict < 0: stop at the end of the context
        if (spec) {
            const int32_t left = n_predict < 0 ? FLM_SPEC_MAX_DRAFT + 1 : n_predict - st.n_generated;
            n = flm_spec_step(spec, smp, left, list, err);
            if (n < 0) {
                s = (flm_status)n;
                break;
            }
        } else {
            if ((s = flm_eval(ctx, &list[0], 1, false, err))) break;
            list[0] = flm_sampler_sample(smp, flm_get_logits(ctx, -1));
        }
    }
    st.gen_seconds = now_s() - t0;
    if (stats) *stats = st;
    return s == FLM_ERR_CANCELLED ? FLM_OK : s;
}

flm_status flm_generate_tokens(struct flm_context *ctx, struct flm_sampler *smp, const int32_t *prompt,
                               int32_t n_prompt, int32_t n_predict, flm_token_fn on_token, void *user,
                               struct flm_gen_stats *stats, struct flm_err *err) {
    return generate(ctx, smp, NULL, prompt, n_prompt, n_predict, on_token, user, stats, err);
}

flm_status flm_generate_spec(struct flm_spec *spec, struct flm_sampler *smp, const int32_t *prompt, int32_t n_prompt,
                             int32_t n_predict, flm_token_fn on_token, void *user, struct flm_gen_stats *stats,
                             struct flm_err *err) {
    if (!spec) return flm_err_set(err, FLM_ERR_INVALID, "generate: NULL spec");
    return generate(flm_spec_context(spec), smp, spec, prompt, n_prompt, n_predict, on_token, user, stats, err);
}

flm_status flm_generate(struct flm_context *ctx, struct flm_sampler *smp, const char *prompt, int32_t n_predict,
                        flm_token_fn on_token, void *user, struct flm_gen_stats *stats, struct flm_err *err) {
    if (!ctx || !prompt) return flm_err_set(err, FLM_ERR_INVALID, "generate: NULL context or prompt");
    const struct flm_model *model = flm_context_model(ctx);
    const size_t len = strlen(prompt);
    const bool add_special = flm_context_pos(ctx) == 0;
    int32_t n = 0;
    flm_status s = flm_tokenize(model, prompt, len, add_special, true, NULL, 0, &n, err);
    if (s && s != FLM_ERR_INVALID) return s;
    if (n == 0) return flm_err_set(err, FLM_ERR_INVALID, "generate: the prompt is empty");
    int32_t *toks = malloc((size_t)n * sizeof *toks);
    if (!toks) return flm_err_set(err, FLM_ERR_NOMEM, "generate: out of memory for %d prompt tokens", n);
    s = flm_tokenize(model, prompt, len, add_special, true, toks, n, &n, err);
    if (s == FLM_OK) s = flm_generate_tokens(ctx, smp, toks, n, n_predict, on_token, user, stats, err);
    free(toks);
    return s;
}
