// spm.c - SentencePiece-style tokenizing (tokenizer.ggml.model "llama") of one fragment.
//
// As llama.cpp's SPM tokenizer does it: spaces become U+2581, the text is cut
// into UTF-8 characters (length taken from the lead byte alone), and the
// adjacent pair whose concatenation is a token with the highest score is
// merged, leftmost first on equal scores, until no pair forms a token. Any
// token text counts, whatever its type. A final symbol that is not a token
// becomes byte tokens (<0xXX>, else the 1-byte token, else the unknown token;
// llama.cpp throws there, this keeps going).
#include "text/vocab_impl.h"

#include <stdlib.h>
#include <string.h>

struct symbol {
    int32_t  prev, next;
    uint32_t off, n;  // n == 0 once merged into its left neighbour
};

struct bigram {
    float    score;
    int32_t  left, right;
    uint32_t size;
};

struct work {
    char          *text;  // escaped text
    struct symbol *sym;
    struct bigram *heap;
    size_t         n_heap, cap_heap;
};

// Heap order: higher score first, then the leftmost pair.
static bool before(const struct bigram *a, const struct bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool heap_push(struct work *w, struct bigram g) {
    if (w->n_heap == w->cap_heap) {
        size_t         cap = w->cap_heap ? 2 * w->cap_heap : 64;
        struct bigram *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return false;
        w->heap = h, w->cap_heap = cap;
    }
    size_t i = w->n_heap++;
    while (i > 0 && before(&g, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = g;
    return true;
}

static struct bigram heap_pop(struct work *w) {
    struct bigram top = w->heap[0], last = w->heap[--w->n_heap];
    size_t        i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

// Queues left+right when their text (contiguous in w->text) is a token.
static bool add_bigram(const struct flm_vocab *v, struct work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    uint32_t size = w->sym[left].n + w->sym[right].n;
    int32_t  id = flm_vocab_find(v, w->text + w->sym[left].off, size);
    if (id < 0) return true;
    return heap_push(w, (struct bigram){.score = v->scores[id], .left = left, .right = right, .size = size});
}

static void emit_symbol(const struct flm_vocab *v, const char *s, size_t n, struct flm_tok_list *out) {
    int32_t id = flm_vocab_find(v, s, n);
    if (id >= 0) {
        flm_vocab_tok_push(out, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t b = v->byte_token[(uint8_t)s[i]];
        if (b < 0) b = v->unk;
        if (b >= 0) flm_vocab_tok_push(out, b);
    }
}

// Copies text with each space replaced by U+2581; returns the new length.
static size_t escape_spaces(const char *text, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            out[n++] = text[i];
        }
    }
    return n;
}

flm_status flm_vocab_spm(const struct flm_vocab *v, const char *text, size_t len, struct flm_tok_list *out) {
    if (len == 0) return FLM_OK;
    if (len > (UINT32_MAX - 3) / 3) return FLM_ERR_INVALID;
    struct work w = {0};
    w.text = malloc(3 * len);
    w.sym = malloc(3 * len * sizeof *w.sym);  // at most one symbol per escaped byte
    flm_status st = (w.text && w.sym) ? FLM_OK : FLM_ERR_NOMEM;
    size_t     n = st == FLM_OK ? escape_spaces(text, len, w.text) : 0;
    int32_t    n_sym = 0;
    for (size_t off = 0; off < n; n_sym++) {
        uint8_t b = (uint8_t)w.text[off];
        size_t  k = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;  // llama.cpp's length-by-lead-byte
        if (k > n - off) k = n - off;
        w.sym[n_sym] = (struct symbol){.prev = n_sym - 1, .next = off + k == n ? -1 : n_sym + 1,
                                       .off = (uint32_t)off, .n = (uint32_t)k};
        off += k;
    }
    for (int32_t i = 1; i < n_sym && st == FLM_OK; i++)
        if (!add_bigram(v, &w, i - 1, i)) st = FLM_ERR_NOMEM;
    while (st == FLM_OK && w.n_heap) {
        struct bigram  g = heap_pop(&w);
        struct symbol *l = &w.sym[g.left], *r = &w.sym[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size) continue;  // outdated
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w.sym[r->next].prev = g.left;
        if (!add_bigram(v, &w, l->prev, g.left) || !add_bigram(v, &w, g.left, l->next)) st = FLM_ERR_NOMEM;
    }
    for (int32_t i = 0; st == FLM_OK && i >= 0 && i < n_sym; i = w.sym[i].next)
        emit_symbol(v, w.text + w.sym[i].off, w.sym[i].n, out);
    free(w.text);
    free(w.sym);
    free(w.heap);
    return st;
}
