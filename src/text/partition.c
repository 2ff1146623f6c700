// partition.c - splitting input text at special tokens before subword tokenizing.
//
// llama.cpp's rule: take the special tokens longest first; for each, split
// every remaining raw-text fragment at all of its non-overlapping, leftmost
// occurrences. CONTROL and UNKNOWN tokens take part only with parse_special;
// USER_DEFINED tokens always do (Gemma's "\n\n" and "  " tokens are such).
//
// A vocabulary can hold thousands of special tokens (Gemma 3: 6400), so a
// first pass finds the ones that occur in the text at all (a token absent from
// the text is absent from every fragment of it) and only those are applied,
// in the same order.
#include "text/vocab_impl.h"

#include <stdlib.h>
#include <string.h>

static bool allowed(const struct flm_vocab *v, int32_t id, bool parse_special) {
    return parse_special || !(v->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN));
}

struct rank_list {
    int32_t *r;
    size_t   n, cap;
};

static bool rank_push(struct rank_list *l, int32_t rank) {
    if (l->n == l->cap) {
        size_t   cap = l->cap ? 2 * l->cap : 32;
        int32_t *r = realloc(l->r, cap * sizeof *r);
        if (!r) return false;
        l->r = r, l->cap = cap;
    }
    l->r[l->n++] = rank;
    return true;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

// Ranks (positions in v->special) of the usable special tokens occurring in
// text, ascending and without repeats.
static bool find_present(const struct flm_vocab *v, const char *text, size_t len, bool parse_special,
                         struct rank_list *out) {
    for (size_t i = 0; i < len; i++) {
        uint8_t  b = (uint8_t)text[i];
        uint64_t lens = v->special_lens[b];
        for (size_t l = 1; lens && l <= 64 && l <= len - i; l++, lens >>= 1) {
            if (!(lens & 1)) continue;
            int32_t id = flm_vocab_find(v, text + i, l);
            if (id >= 0 && v->special_rank[id] >= 0 && allowed(v, id, parse_special) &&
                !rank_push(out, v->special_rank[id]))
                return false;
        }
        if (!v->special_long[b]) continue;
        for (int32_t k = 0; k < v->n_special; k++) {  // the few tokens longer than 64 bytes
            size_t      n;
            const char *s = tok_text(v, v->special[k], &n);
            if (n <= 64) break;  // sorted longest first
            if (n <= len - i && (uint8_t)s[0] == b && memcmp(s, text + i, n) == 0 &&
                allowed(v, v->special[k], parse_special) && !rank_push(out, k))
                return false;
        }
    }
    if (out->n == 0) return true;
    qsort(out->r, out->n, sizeof *out->r, cmp_i32);
    size_t m = 0;
    for (size_t k = 0; k < out->n; k++)
        if (m == 0 || out->r[m - 1] != out->r[k]) out->r[m++] = out->r[k];
    out->n = m;
    return true;
}

// Appends a fragment after fragment `after` (-1: as the list head); returns its index or -1.
static int32_t frag_insert(struct flm_frag_list *l, int32_t after, size_t off, size_t len, int32_t tok) {
    if (l->n == l->cap) {
        size_t           cap = l->cap ? 2 * l->cap : 16;
        struct flm_frag *f = realloc(l->f, cap * sizeof *f);
        if (!f) return -1;
        l->f = f, l->cap = cap;
    }
    int32_t i = (int32_t)l->n++;
    l->f[i] = (struct flm_frag){.off = off, .len = len, .tok = tok, .next = after >= 0 ? l->f[after].next : -1};
    if (after >= 0) l->f[after].next = i;
    return i;
}

// Splits raw fragment i at every occurrence of token id; returns the index of
// the last fragment it produced (i when id does not occur), or -1 on OOM.
static int32_t split_fragment(struct flm_frag_list *l, int32_t i, const char *text, const char *s, size_t n,
                              int32_t id) {
    size_t pos = l->f[i].off, end = l->f[i].off + l->f[i].len;
    int32_t last = -1;  // last fragment written; fragment i is reused for the first piece
    while (pos < end) {
        const char *m = memmem(text + pos, end - pos, s, n);
        if (!m) break;
        size_t at = (size_t)(m - text);
        if (at > pos) {  // text to the left
            if (last < 0) l->f[i].len = at - pos, last = i;
            else if ((last = frag_insert(l, last, pos, at - pos, -1)) < 0) return -1;
        }
        if (last < 0) l->f[i].tok = id, l->f[i].off = at, l->f[i].len = n, last = i;
        else if ((last = frag_insert(l, last, at, n, id)) < 0) return -1;
        pos = at + n;
    }
    if (last < 0) return i;
    if (pos < end && (last = frag_insert(l, last, pos, end - pos, -1)) < 0) return -1;
    return last;
}

flm_status flm_vocab_partition(const struct flm_vocab *v, const char *text, size_t len, bool parse_special,
                               struct flm_frag_list *out) {
    out->n = 0;
    if (len == 0) return FLM_OK;
    if (frag_insert(out, -1, 0, len, -1) < 0) return FLM_ERR_NOMEM;
    struct rank_list present = {0};
    if (!find_present(v, text, len, parse_special, &present)) {
        free(present.r);
        return FLM_ERR_NOMEM;
    }
    for (size_t k = 0; k < present.n; k++) {
        int32_t     id = v->special[present.r[k]];
        size_t      n;
        const char *s = tok_text(v, id, &n);
        for (int32_t i = 0; i >= 0; i = out->f[i].next) {
            if (out->f[i].tok >= 0) continue;
            i = split_fragment(out, i, text, s, n, id);
            if (i < 0) {
                free(present.r);
                return FLM_ERR_NOMEM;
            }
        }
    }
    free(present.r);
    return FLM_OK;
}
