// spec_accept.c - the speculative sampling rule (Leviathan et al., Chen et
// al.): accept a drafted token x with probability min(1, p(x)/q(x)), else draw
// from norm(max(0, p - q)). Whatever q is, the token that comes out is
// distributed as p; greedy is the special case p = one-hot(argmax).
#include "decode/sampler.h"
#include "decode/spec.h"

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
