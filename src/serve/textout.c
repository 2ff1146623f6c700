// textout.c - stop sequences and UTF-8 hold-back for streamed text.
#include "serve/textout.h"

#include "text/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void flm_textout_init(struct flm_textout *t, const char *const *stop, int n_stop) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n_stop && i < FLM_TEXTOUT_MAX_STOP; i++)
        if (stop[i] && stop[i][0]) t->stop[t->n_stop++] = stop[i];
}

void flm_textout_free(struct flm_textout *t) {
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

// Longest proper prefix of any stop sequence that ends the buffer.
static size_t stop_holdback(const struct flm_textout *t) {
    size_t best = 0;
    for (int i = 0; i < t->n_stop; i++) {
        const size_t n = strlen(t->stop[i]);
        for (size_t k = n - 1; k > best; k--)
            if (k <= t->len && memcmp(t->buf + t->len - k, t->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

// Earliest position of any stop sequence, or len.
static size_t stop_find(const struct flm_textout *t) {
    size_t first = t->len;
    for (int i = 0; i < t->n_stop; i++) {
        const size_t n = strlen(t->stop[i]);
        for (size_t p = 0; p + n <= t->len && p < first; p++)
            if (memcmp(t->buf + p, t->stop[i], n) == 0) {
                first = p;
                break;
            }
    }
    return first;
}

size_t flm_textout_push(struct flm_textout *t, const char *piece, size_t len, bool *ok) {
    *ok = true;
    if (t->stopped) return t->len;
    if (t->len + len + 1 > t->cap) {
        size_t cap = (t->len + len + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) return *ok = false, 0;
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, piece, len);
    t->len += len;
    const size_t at = stop_find(t);
    if (at < t->len) {
        t->len = at;
        t->stopped = true;
        return t->len;
    }
    size_t hold = stop_holdback(t);
    const size_t tail = flm_utf8_incomplete_tail(t->buf, t->len);
    if (tail > hold) hold = tail;
    return t->len - hold;
}

size_t flm_textout_finish(struct flm_textout *t) { return t->len; }

void flm_textout_consume(struct flm_textout *t, size_t n) {
    if (n > t->len) n = t->len;
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
}

// Length of the well-formed character at s (1..4), or 0 when malformed.
static size_t char_len(const uint8_t *s, size_t n) {
    const size_t want = s[0] < 0x80 ? 1 : s[0] < 0xC2 ? 0 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : s[0] < 0xF5 ? 4 : 0;
    if (!want || want > n) return 0;
    return flm_utf8_valid((const char *)s, want) ? want : 0;
}

bool flm_textout_sanitize(char **dst, size_t *dst_len, size_t *dst_cap, const char *s, size_t len) {
    if (*dst_len + len * 3 + 1 > *dst_cap) {  // each bad byte grows to 3
        size_t cap = (*dst_len + len * 3 + 1) * 2;
        char *d = realloc(*dst, cap);
        if (!d) return false;
        *dst = d;
        *dst_cap = cap;
    }
    const uint8_t *u = (const uint8_t *)s;
    char *out = *dst + *dst_len;
    for (size_t i = 0; i < len;) {
        const size_t k = char_len(u + i, len - i);
        if (k) {
            memcpy(out, u + i, k);
            out += k;
            i += k;
        } else {
            memcpy(out, "\xEF\xBF\xBD", 3);
            out += 3;
            i++;
        }
    }
    *dst_len = (size_t)(out - *dst);
    (*dst)[*dst_len] = '\0';
    return true;
}
