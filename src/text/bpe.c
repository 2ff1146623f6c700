// bpe.c - byte-level BPE (tokenizer.ggml.model "gpt2") on one raw-text fragment.
//
// As llama.cpp does it: decode the fragment leniently to code points, split
// it into words with the pre-tokenizer, re-encode each word as UTF-8 and map
// every byte to GPT-2's printable code point, then repeatedly merge the
// adjacent pair with the lowest merge rank (leftmost on ties). A final symbol
// that is not a token falls back to the tokens of its single bytes, and is
// dropped where those do not exist either.
#include "text/merge_queue.h"
#include "text/vocab_impl.h"

#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- byte mapping

static bool prints_as_itself(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

// The 68 bytes that do not print as themselves, in order: 0x00..0x20 -> U+0100..,
// 0x7F..0xA0 -> U+0121.., 0xAD -> U+0143.
uint32_t flm_bpe_byte_to_cp(uint8_t b) {
    if (prints_as_itself(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b <= 0xA0) return 0x121u + (b - 0x7Fu);
    return 0x143;
}

int flm_bpe_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return prints_as_itself(cp) ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

// ---------------------------------------------------------------- merging

struct symbol {
    int32_t  prev, next;
    uint32_t off, n;  // bytes of the encoded word; n == 0 once merged away
};

struct work {
    uint32_t      *cps, *lens, *tmp;  // [n_cps]
    char          *word;              // encoded word, at most 8 bytes per code point
    struct symbol *sym;
    struct flm_merge_queue queue;
};

static bool add_bigram(const struct flm_vocab *v, struct work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const struct symbol *l = &w->sym[left], *r = &w->sym[right];
    int32_t rank = flm_vocab_merge_rank(v, w->word + l->off, l->n, w->word + r->off, r->n);
    if (rank < 0) return true;
    return flm_merge_push(&w->queue, (struct flm_merge){.prio = -(double)rank, .left = left, .right = right, .size = l->n + r->n});
}

static void emit_symbol(const struct flm_vocab *v, const char *s, size_t n, struct flm_tok_list *out) {
    int32_t id = flm_vocab_find(v, s, n);
    if (id >= 0) {
        flm_vocab_tok_push(out, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t b = v->byte_token[(uint8_t)s[i]];
        if (b >= 0) flm_vocab_tok_push(out, b);
    }
}

static flm_status merge_word(const struct flm_vocab *v, struct work *w, size_t len, struct flm_tok_list *out) {
    if (v->pre.ignore_merges) {
        int32_t id = flm_vocab_find(v, w->word, len);
        if (id >= 0) {
            flm_vocab_tok_push(out, id);
            return FLM_OK;
        }
    }
    int32_t n_sym = 0;
    for (size_t off = 0; off < len; n_sym++) {
        uint8_t b = (uint8_t)w->word[off];
        size_t  n = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;  // llama.cpp's length-by-lead-byte
        if (n > len - off) n = len - off;
        w->sym[n_sym] = (struct symbol){.prev = n_sym - 1, .next = off + n == len ? -1 : n_sym + 1,
                                        .off = (uint32_t)off, .n = (uint32_t)n};
        off += n;
    }
    w->queue.n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (!add_bigram(v, w, i - 1, i)) return FLM_ERR_NOMEM;
    while (w->queue.n) {
        struct flm_merge g = flm_merge_pop(&w->queue);
        struct symbol *l = &w->sym[g.left], *r = &w->sym[g.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != g.size) continue;  // outdated
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = g.left;
        if (!add_bigram(v, w, l->prev, g.left) || !add_bigram(v, w, g.left, l->next)) return FLM_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n_sym; i++)
        if (w->sym[i].n) emit_symbol(v, w->word + w->sym[i].off, w->sym[i].n, out);
    return FLM_OK;
}

// ---------------------------------------------------------------- driver

static void work_free(struct work *w) {
    free(w->cps), free(w->lens), free(w->tmp), free(w->word), free(w->sym);
    flm_merge_queue_free(&w->queue);
}

// UTF-8 of the word's code points, each byte as GPT-2's code point in UTF-8.
static size_t encode_word(const uint32_t *cps, size_t n, char *word) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int  nu = flm_unicode_encode(cps[i], u);
        for (int k = 0; k < nu; k++) {
            char e[4];
            int  ne = flm_unicode_encode(flm_bpe_byte_to_cp((uint8_t)u[k]), e);
            memcpy(word + len, e, (size_t)ne);
            len += (size_t)ne;
        }
    }
    return len;
}

flm_status flm_vocab_bpe(const struct flm_vocab *v, const char *text, size_t len, struct flm_tok_list *out) {
    struct work w = {0};
    size_t      cap = len ? len : 1;  // code points <= bytes
    w.cps = malloc(cap * sizeof *w.cps);
    w.lens = malloc(cap * sizeof *w.lens);
    w.tmp = malloc(cap * sizeof *w.tmp);
    if (!w.cps || !w.lens || !w.tmp) {
        work_free(&w);
        return FLM_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t pos = 0; pos < len;) w.cps[n++] = flm_unicode_decode(text, len, &pos);
    size_t n_words = flm_pretok_split(v->pre.kind, w.cps, n, w.lens, w.tmp);
    size_t longest = 1;
    for (size_t k = 0; k < n_words; k++)
        if (w.lens[k] > longest) longest = w.lens[k];
    // A code point is at most 4 bytes, each encoded as at most 2 bytes (1 symbol).
    w.word = malloc(longest * 8);
    w.sym = malloc(longest * 4 * sizeof *w.sym);
    size_t     start = 0;
    flm_status st = (w.word && w.sym) ? FLM_OK : FLM_ERR_NOMEM;
    for (size_t k = 0; k < n_words && st == FLM_OK; k++) {
        size_t wlen = encode_word(w.cps + start, w.lens[k], w.word);
        st = merge_word(v, &w, wlen, out);
        start += w.lens[k];
    }
    work_free(&w);
    return st;
}
