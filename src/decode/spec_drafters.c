// spec_drafters.c - what the drafters need besides a forward pass: prompt
// lookup's n-gram search, self-speculation's layer selection, and the check
// that a draft model speaks the target's vocabulary.
#include "decode/spec.h"

#include "core/status.h"
#include "model/model.h"
#include "text/vocab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- prompt lookup

// Latest start s < n - g of hist[s..s+g) == hist[n-g..n), or -1.
static int32_t latest_match(const int32_t *hist, int32_t n, int32_t g) {
    const int32_t *tail = hist + n - g;
    for (int32_t s = n - g - 1; s >= 0; s--)
        if (hist[s] == tail[0] && !memcmp(hist + s, tail, sizeof(int32_t) * (size_t)g)) return s;
    return -1;
}

int32_t flm_spec_lookup(const int32_t *hist, int32_t n, int32_t ngram_min, int32_t ngram_max, int32_t k,
                        int32_t *out) {
    if (ngram_min < 1) ngram_min = 1;
    for (int32_t g = ngram_max; g >= ngram_min; g--) {
        if (g >= n) continue;
        const int32_t s = latest_match(hist, n, g);
        if (s < 0) continue;
        int32_t m = 0;
        for (int32_t i = s + g; i < n && m < k; i++) out[m++] = hist[i];
        if (m > 0) return m;
    }
    return 0;
}

// ---------------------------------------------------------------- layer selection

static bool parse_num(const char **p, int32_t *v) {
    if (!isdigit((unsigned char)**p)) return false;
    char *end;
    long x = strtol(*p, &end, 10);
    if (x > 1 << 20) return false;
    *v = (int32_t)x;
    *p = end;
    return true;
}

flm_status flm_spec_parse_layers(const char *s, int32_t n_layer, uint8_t *mask, struct flm_err *err) {
    memset(mask, 0, (size_t)n_layer);
    if (!s || !*s) {  // the first half
        for (int32_t il = 0; il < (n_layer + 1) / 2; il++) mask[il] = 1;
        return FLM_OK;
    }
    const char *p = s;
    int32_t a, b;
    if (!strpbrk(s, "-,")) {
        if (!parse_num(&p, &a) || *p || a < 1 || a > n_layer)
            return flm_err_set(err, FLM_ERR_INVALID, "spec: layers '%s': expected a count 1..%d or a list like '0-7,9'",
                               s, n_layer);
        memset(mask, 1, (size_t)a);
        return FLM_OK;
    }
    while (*p) {
        if (!parse_num(&p, &a)) goto bad;
        b = a;
        if (*p == '-' && (p++, !parse_num(&p, &b))) goto bad;
        if (a > b || b >= n_layer)
            return flm_err_set(err, FLM_ERR_INVALID, "spec: layers '%s': range %d-%d outside 0..%d", s, a, b,
                               n_layer - 1);
        for (int32_t il = a; il <= b; il++) mask[il] = 1;
        if (*p == ',') p++;
        else if (*p) goto bad;
    }
    return FLM_OK;
bad:
    return flm_err_set(err, FLM_ERR_INVALID, "spec: layers '%s': bad list at offset %d (expected 'a-b,c,...')", s,
                       (int)(p - s));
}

// ---------------------------------------------------------------- vocabulary check

static void quote(char *dst, size_t cap, const char *s, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        const unsigned char ch = (unsigned char)s[i];
        o += (size_t)snprintf(dst + o, cap - o, ch >= 32 && ch < 127 && ch != '\'' ? "%c" : "\\x%02x", ch);
    }
    dst[o] = '\0';
}

flm_status flm_spec_check_vocab(const struct flm_model *target, const struct flm_model *draft, struct flm_err *err) {
    const struct flm_vocab *vt = target->vocab, *vd = draft->vocab;
    const int32_t nt = flm_vocab_n_tokens(vt), nd = flm_vocab_n_tokens(vd);
    if (nt != nd || target->hp.n_vocab != draft->hp.n_vocab)
        return flm_err_set(err, FLM_ERR_INVALID,
                           "draft: vocabulary size %d differs from the target's %d (a drafter needs the same vocabulary)",
                           nd, nt);
    for (int32_t t = 0; t < nt; t++) {
        size_t lt, ld;
        const char *st = flm_vocab_text(vt, t, &lt), *sd = flm_vocab_text(vd, t, &ld);
        if (lt == ld && (lt == 0 || !memcmp(st, sd, lt))) continue;
        char qt[96], qd[96];
        quote(qt, sizeof qt, st, lt);
        quote(qd, sizeof qd, sd, ld);
        return flm_err_set(err, FLM_ERR_INVALID, "draft: token %d is '%s' in the draft model but '%s' in the target", t,
                           qd, qt);
    }
    if (flm_vocab_bos(vt) != flm_vocab_bos(vd) || flm_vocab_eos(vt) != flm_vocab_eos(vd) ||
        flm_vocab_add_bos(vt) != flm_vocab_add_bos(vd))
        return flm_err_set(err, FLM_ERR_INVALID,
                           "draft: special tokens differ: draft BOS %d EOS %d (adds BOS: %s), target BOS %d EOS %d "
                           "(adds BOS: %s)",
                           flm_vocab_bos(vd), flm_vocab_eos(vd), flm_vocab_add_bos(vd) ? "yes" : "no",
                           flm_vocab_bos(vt), flm_vocab_eos(vt), flm_vocab_add_bos(vt) ? "yes" : "no");
    return FLM_OK;
}
