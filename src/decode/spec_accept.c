// spec_accept.c - the speculative sampling rule (Leviathan et al., Chen et
// al.): accept a drafted token x with probability min(1, p(x)/q(x)), else draw
// from norm(max(0, p - q)). Whatever q is, the token that comes out is
// distributed as p; greedy is the special case p = one-hot(argmax).
#include "decode/sampler.h"
#include "decode/spec.h"

#include "model/context.h"

#include <string.h>

static float q_of(const float *q, int32_t x, int32_t t) { return q ? q[t] : (float)(t == x); }

// Draws from norm(max(0, p - q)); from p itself if rounding left nothing.
static int32_t draw_residual(const float *p, const float *q, int32_t n_vocab, int32_t x, struct flm_sampler *rng) {
    double sum = 0.0;
    for (int32_t t = 0; t < n_vocab; t++) {
        const float r = p[t] - q_of(q, x, t);
        if (r > 0.0f) sum += r;
    }
    const bool from_p = !(sum > 0.0);
    if (from_p)
        for (int32_t t = 0; t < n_vocab; t++) sum += p[t];
    const double u = flm_sampler_unit(rng) * sum;
    double cum = 0.0;
    int32_t last = -1;
    for (int32_t t = 0; t < n_vocab; t++) {
        const float r = from_p ? p[t] : p[t] - q_of(q, x, t);
        if (!(r > 0.0f)) continue;
        last = t;
        cum += r;
        if (u < cum) return t;
    }
    return last >= 0 ? last : x;  // rounding put u just past the total: the last live token
}

int32_t flm_spec_accept(const float *p, const float *q, int32_t n_vocab, int32_t x, struct flm_sampler *rng,
                        bool *accepted) {
    const float px = p[x], qx = q_of(q, x, x);
    if (px >= qx || (px > 0.0f && flm_sampler_unit(rng) * qx < px)) {
        *accepted = true;
        return x;
    }
    *accepted = false;
    return draw_residual(p, q, n_vocab, x, rng);
}

int32_t flm_spec_accept_rows(const struct flm_context *ctx, int32_t seq, struct flm_sampler *smp,
                             const int32_t *draft, int32_t k, const bool *q_hot, const float *q, float *p_dense,
                             int32_t *out) {
    const int32_t n_vocab = ctx->model->hp.n_vocab;
    int32_t n = 0;
    for (int32_t i = 0; i < k; i++) {
        const float *logits = flm_get_logits_seq(ctx, seq, i);
        const int32_t x = draft[i];
        const struct flm_token_prob *c;
        const int32_t nc = flm_sampler_dist(smp, logits, &c);
        bool ok;
        int32_t y;
        if (nc == 1) {  // greedy (or one survivor): the rule accepts x only if it is that token
            y = c[0].id;
            ok = y == x;
        } else {
            memset(p_dense, 0, sizeof(float) * (size_t)n_vocab);
            for (int32_t t = 0; t < nc; t++) p_dense[c[t].id] = c[t].v;
            const float *qi = !q_hot || q_hot[i] ? NULL : q + (size_t)i * (size_t)n_vocab;
            y = flm_spec_accept(p_dense, qi, n_vocab, x, smp, &ok);
        }
        flm_sampler_accept(smp, y);
        out[n++] = y;
        if (!ok || flm_token_is_eog(ctx->model, y)) return n;
    }
    out[n++] = flm_sampler_sample(smp, flm_get_logits_seq(ctx, seq, k));
    return n;
}
