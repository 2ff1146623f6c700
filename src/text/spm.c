// spm.c - SentencePiece-style tokenizing (tokenizer.ggml.model "llama") of one fragment.
//
// As llama.cpp's SPM tokenizer does it: spaces become U+2581, the text is cut
// into UTF-8 characters (length taken from the lead byte alone), and the
// adjacent pair whose concatenation is a token with the highest score is
// merged, leftmost first on equal scores, until no pair forms a token. Any
// token text counts, whatever its type. A final symbol that is not a token
// becomes byte tokens (<0xXX>, else the 1-byte token, else the unknown token;
// llama.cpp throws there, this keeps going).
#include "text/merge_queue.h"
#include "text/vocab_impl.h"

#include <stdlib.h>
#include <string.h>

struct symbol {
    int32_t  prev, next;
    uint32_t off, n;  // n == 0 once merged into its left neighbour
};

struct work {
    char          *text;  // escaped text
    struct symbol *sym;
    struct flm_merge_queue queue;
};

// Queues left+right when their text (contiguous in w->text) is a token.
static bool add_bigram(const struct flm_vocab *v, struct work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    uint32_t size = w->sym[left].n + w->sym[right].n;
    int32_t  id = flm_vocab_find(v, w->text + w->sym[left].off, size);
    if (id < 0) return true;
    return flm_merge_push(&w->queue, (struct flm_merge){.prio = v->scores[id], .left = left, .right = right, .size = size});
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
    while (st == FLM_OK && w.queue.n) {
        struct flm_merge g = flm_merge_pop(&w.queue);
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
    flm_merge_queue_free(&w.queue);
    return st;
}
