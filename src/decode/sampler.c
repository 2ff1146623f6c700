// sampler.c - penalties, top_k, top_p, min_p, temperature and a seeded draw.
// See sampler.h for the chain and its promises.
#include "decode/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>


struct flm_sampler {
    struct flm_sampler_params p;
    int32_t      n_vocab;
    struct flm_token_prob *cands;     // [n_vocab] scratch of one sample() call
    int32_t     *counts;    // [n_vocab] occurrences of each token in the history window
    int32_t     *hist;      // [p.repeat_last_n] ring buffer of the last tokens
    uint8_t     *applied;   // [n_vocab] marks tokens already penalised in this call; all 0 between calls
    int32_t      hist_len;  // tokens in the window (<= repeat_last_n)
    int32_t      hist_head; // next slot to write; the oldest token once the window is full
    uint64_t     rng[4];    // xoshiro256** state
};

struct flm_sampler_params flm_sampler_params_default(void) {
    struct flm_sampler_params p = {
        .temperature       = 0.8f,
        .top_k             = 40,
        .top_p             = 0.95f,
        .min_p             = 0.05f,
        .repeat_penalty    = 1.0f,
        .repeat_last_n     = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty  = 0.0f,
        .seed              = 0xF1A5,
    };
    return p;
}

// ---------------------------------------------------------------- PRNG

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t st[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) st[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t st[4]) {
    const uint64_t result = rotl(st[1] * 5, 7) * 9;
    const uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

// Uniform in [0, 1) with 53 random bits.
static double rng_unit(uint64_t st[4]) { return (double)(rng_next(st) >> 11) * 0x1.0p-53; }

// ---------------------------------------------------------------- init / free

static flm_status validate(const struct flm_sampler_params *p, int32_t n_vocab, struct flm_err *err) {
    if (n_vocab <= 0) return flm_err_set(err, FLM_ERR_INVALID, "sampler: n_vocab %d must be positive", n_vocab);
    if (!isfinite(p->temperature))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: temperature %g is not finite", (double)p->temperature);
    if (p->top_k < 0) return flm_err_set(err, FLM_ERR_INVALID, "sampler: top_k %d is negative (0 = off)", p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: top_p %g not in (0, 1] (1 = off)", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: min_p %g not in [0, 1] (0 = off)", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: repeat_penalty %g must be positive and finite (1 = off)",
                           (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > FLM_SAMPLER_MAX_LAST_N)
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: repeat_last_n %d not in [0, %d]", p->repeat_last_n,
                           FLM_SAMPLER_MAX_LAST_N);
    if (!isfinite(p->frequency_penalty))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: frequency_penalty %g is not finite",
                           (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return flm_err_set(err, FLM_ERR_INVALID, "sampler: presence_penalty %g is not finite",
                           (double)p->presence_penalty);
    return FLM_OK;
}

flm_status flm_sampler_init_n_vocab(struct flm_sampler **out, const struct flm_sampler_params *params,
                                    int32_t n_vocab, struct flm_err *err) {
    FLM_ASSERT(out != NULL);
    *out = NULL;
    const struct flm_sampler_params p = params ? *params : flm_sampler_params_default();
    flm_status st = validate(&p, n_vocab, err);
    if (st != FLM_OK) return st;

    // One block: sampler | cands | counts | hist | applied (each part 8-aligned).
    const uint64_t n = (uint64_t)n_vocab;
    const uint64_t off_cands = (sizeof(struct flm_sampler) + 7) & ~(uint64_t)7;
    const uint64_t off_counts = off_cands + n * sizeof(struct flm_token_prob);
    const uint64_t off_hist = off_counts + ((n * sizeof(int32_t) + 7) & ~(uint64_t)7);
    const uint64_t off_applied = off_hist + (((uint64_t)p.repeat_last_n * sizeof(int32_t) + 7) & ~(uint64_t)7);
    const uint64_t total = off_applied + n;
    if (total > SIZE_MAX)
        return flm_err_set(err, FLM_ERR_NOMEM, "sampler: %llu bytes for n_vocab %d do not fit in memory",
                           (unsigned long long)total, n_vocab);
    char *block = calloc(1, (size_t)total);
    if (!block)
        return flm_err_set(err, FLM_ERR_NOMEM, "sampler: cannot allocate %llu bytes for n_vocab %d",
                           (unsigned long long)total, n_vocab);

    struct flm_sampler *s = (struct flm_sampler *)block;
    s->p = p;
    s->n_vocab = n_vocab;
    s->cands = (struct flm_token_prob *)(block + off_cands);
    s->counts = (int32_t *)(block + off_counts);
    s->hist = (int32_t *)(block + off_hist);
    s->applied = (uint8_t *)(block + off_applied);
    rng_seed(s->rng, p.seed);
    *out = s;
    return FLM_OK;
}

void flm_sampler_free(struct flm_sampler *s) { free(s); }

int32_t flm_sampler_n_vocab(const struct flm_sampler *s) { return s->n_vocab; }

// Back to the state right after init: empty history, generator reseeded.
void flm_sampler_reset(struct flm_sampler *s) {
    if (!s) return;
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->hist_len = 0;
    s->hist_head = 0;
    rng_seed(s->rng, s->p.seed);
}

// Token ids outside [0, n_vocab) are ignored (they cannot be penalised).
void flm_sampler_accept(struct flm_sampler *s, int32_t token) {
    const int32_t last_n = s->p.repeat_last_n;
    if (last_n == 0 || token < 0 || token >= s->n_vocab) return;
    if (s->hist_len == last_n) {
        s->counts[s->hist[s->hist_head]]--;  // evict the oldest
    } else {
        s->hist_len++;
    }
    s->hist[s->hist_head] = token;
    s->counts[token]++;
    s->hist_head = (s->hist_head + 1) % last_n;
}

// ---------------------------------------------------------------- heaps

// a ranks before b: larger logit, then lower id.
static bool better(struct flm_token_prob a, struct flm_token_prob b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

// Restores the heap property below i. max_heap: root is the best candidate;
// otherwise the root is the worst.
static void sift_down(struct flm_token_prob *h, size_t n, size_t i, bool max_heap) {
    for (;;) {
        size_t l = 2 * i + 1, top = i;
        if (l >= n) return;
        if (max_heap ? better(h[l], h[top]) : better(h[top], h[l])) top = l;
        if (l + 1 < n && (max_heap ? better(h[l + 1], h[top]) : better(h[top], h[l + 1]))) top = l + 1;
        if (top == i) return;
        struct flm_token_prob t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

static void heapify(struct flm_token_prob *h, size_t n, bool max_heap) {
    for (size_t i = n / 2; i-- > 0;) sift_down(h, n, i, max_heap);
}

static void swap_tp(struct flm_token_prob *a, struct flm_token_prob *b) {
    struct flm_token_prob t = *a;
    *a = *b;
    *b = t;
}

// ---------------------------------------------------------------- the chain

static void apply_penalties(struct flm_sampler *s, struct flm_token_prob *c) {
    const struct flm_sampler_params *p = &s->p;
    if (s->hist_len == 0) return;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f) return;
    for (int32_t i = 0; i < s->hist_len; i++) {
        const int32_t t = s->hist[i];
        if (s->applied[t]) continue;
        s->applied[t] = 1;
        const int32_t cnt = s->counts[t];
        float l = c[t].v;  // candidates are still indexed by id here
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)cnt * p->frequency_penalty + (cnt > 0 ? p->presence_penalty : 0.0f);
        c[t].v = l;
    }
    for (int32_t i = 0; i < s->hist_len; i++) s->applied[s->hist[i]] = 0;
}

// Keeps the k best of c[0..n) in c[0..k), sorted best first.
static size_t top_k(struct flm_token_prob *c, size_t n, size_t k) {
    heapify(c, k, false);  // root = worst of the k kept so far
    for (size_t i = k; i < n; i++) {
        if (better(c[i], c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0, false);
        }
    }
    for (size_t end = k; end-- > 1;) {  // heap sort: the worst goes to the back
        swap_tp(&c[0], &c[end]);
        sift_down(c, end, 0, false);
    }
    return k;
}

// top_p without top_k first files every token into a bucket by how far its
// logit lies below the max; only the buckets whose mass reaches top_p (plus
// one for rounding) go into the heap. Bucket order is logit order, so tokens
// left out rank below every token kept.
#define TOP_P_BUCKETS 256
#define TOP_P_BUCKET_W 0.125f  // logit units per bucket; the last one takes the rest

static size_t bucket_of(float below_max) {
    const float x = below_max * (1.0f / TOP_P_BUCKET_W);
    return x < (float)(TOP_P_BUCKETS - 1) ? (size_t)x : TOP_P_BUCKETS - 1;
}

// Keeps the most likely candidates until their probability (softmax at
// temperature 1) reaches p and leaves them sorted best first in c[0..m).
static size_t top_p(struct flm_token_prob *c, size_t n, double p, bool sorted) {
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) mx = c[i].v > mx ? c[i].v : mx;
    if (!isfinite(mx)) return n;  // all -inf (or some +inf): nothing to rank by
    double mass[TOP_P_BUCKETS] = {0};
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float e = expf(c[i].v - mx);
        sum += e;
        if (!sorted) mass[bucket_of(mx - c[i].v)] += e;
    }
    double cum = 0.0;
    size_t m = 0;
    if (sorted) {
        while (m < n) {
            cum += expf(c[m].v - mx) / sum;
            m++;
            if (cum >= p) break;
        }
        return m;
    }
    size_t last = TOP_P_BUCKETS - 1;
    for (size_t b = 0; b < TOP_P_BUCKETS; b++) {
        cum += mass[b];
        if (cum >= p * sum) {
            last = b + 1 < TOP_P_BUCKETS ? b + 1 : b;
            break;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (bucket_of(mx - c[i].v) <= last) c[k++] = c[i];
    }
    heapify(c, k, true);
    cum = 0.0;
    while (m < k) {
        cum += expf(c[0].v - mx) / sum;
        m++;
        swap_tp(&c[0], &c[k - m]);  // popped tokens collect at the back, best last
        sift_down(c, k - m, 0, true);
        if (cum >= p) break;
    }
    for (size_t i = k - m, j = k - 1; i < j; i++, j--) swap_tp(&c[i], &c[j]);  // best first
    memmove(c, c + (k - m), m * sizeof *c);
    return m;
}

// Keeps candidates with logit >= max + log(min_p), in their order.
static size_t min_p(struct flm_token_prob *c, size_t n, float mp) {
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) mx = c[i].v > mx ? c[i].v : mx;
    if (!isfinite(mx)) return n;
    const float thr = mx + logf(mp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].v >= thr) c[m++] = c[i];
    }
    return m;
}

// Scales by 1/temp and turns the logits into probabilities (softmax).
static void normalize(struct flm_token_prob *c, size_t n, float temp) {
    const float inv_t = 1.0f / temp;
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        c[i].v *= inv_t;
        mx = c[i].v > mx ? c[i].v : mx;
    }
    if (!isfinite(mx)) {  // all -inf: uniform; some +inf: uniform over those
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += c[i].v == mx;
        for (size_t i = 0; i < n; i++) c[i].v = c[i].v == mx ? 1.0f / (float)k : 0.0f;
        return;
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += exp((double)c[i].v - (double)mx);
    for (size_t i = 0; i < n; i++) c[i].v = (float)(exp((double)c[i].v - (double)mx) / sum);
}

int32_t flm_sampler_dist(struct flm_sampler *s, const float *logits, const struct flm_token_prob **out) {
    FLM_ASSERT(s != NULL && logits != NULL && out != NULL);
    const struct flm_sampler_params *p = &s->p;
    const size_t nv = (size_t)s->n_vocab;
    struct flm_token_prob *c = s->cands;
    for (size_t i = 0; i < nv; i++) {
        c[i].id = (int32_t)i;
        c[i].v = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    apply_penalties(s, c);
    *out = c;

    if (p->temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < nv; i++) {
            if (c[i].v > c[best].v) best = i;
        }
        c[0].id = c[best].id;
        c[0].v = 1.0f;
        return 1;
    }
    size_t n = nv;
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        n = top_k(c, n, (size_t)p->top_k);
        sorted = true;
    }
    if (p->top_p < 1.0f) n = top_p(c, n, (double)p->top_p, sorted);
    if (p->min_p > 0.0f) n = min_p(c, n, p->min_p);
    normalize(c, n, p->temperature);
    return (int32_t)n;
}

void flm_sampler_dist_dense(struct flm_sampler *s, const float *logits, float *dense) {
    const struct flm_token_prob *c;
    const int32_t n = flm_sampler_dist(s, logits, &c);
    memset(dense, 0, sizeof(float) * (size_t)s->n_vocab);
    for (int32_t i = 0; i < n; i++) dense[c[i].id] = c[i].v;
}

double flm_sampler_unit(struct flm_sampler *s) { return rng_unit(s->rng); }

int32_t flm_sampler_sample(struct flm_sampler *s, const float *logits) {
    const struct flm_token_prob *c;
    const int32_t n = flm_sampler_dist(s, logits, &c);
    const double u = rng_unit(s->rng);
    double cum = 0.0;
    int32_t pick = -1;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].v <= 0.0f) continue;
        pick = i;  // rounding may leave u just above the total: the last live one wins
        cum += c[i].v;
        if (u < cum) break;
    }
    const int32_t tok = c[pick < 0 ? 0 : pick].id;
    flm_sampler_accept(s, tok);
    return tok;
}
