// pretok.c - pre-tokenizer splitting rules for byte-level BPE, on code points.
//
// A rule reads the pieces of the previous rule (lens_in) and writes finer
// pieces (lens_out); a piece never spans two input pieces. Inside a piece a
// position past its end reads as "out of range" (flags 0), which is how the
// look-aheads of the regexes behave at piece boundaries.
#include "text/pretok.h"

#include "text/unicode.h"

#include <string.h>

#define OUT_OF_RANGE 0xFFFFFFFFu

enum { WS = FLM_UNICODE_WHITESPACE, LETTER = FLM_UNICODE_LETTER, NUMBER = FLM_UNICODE_NUMBER };

struct piece {
    const uint32_t *cps;
    size_t          end;   // one past the piece's last code point
    size_t          prev;  // end of the last word written
    uint32_t       *out;
    size_t          n_out;
};

static uint32_t cpt_at(const struct piece *p, size_t pos) {
    return pos < p->end ? p->cps[pos] : OUT_OF_RANGE;
}

static uint16_t flags_at(const struct piece *p, size_t pos) {
    return pos < p->end ? flm_unicode_flags(p->cps[pos]) : 0;
}

// Ends the current word at pos (nothing when empty).
static void add_word(struct piece *p, size_t pos) {
    if (pos > p->prev) p->out[p->n_out++] = (uint32_t)(pos - p->prev);
    p->prev = pos;
}

static uint32_t ascii_lower(uint32_t c) {
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, or 0.
static size_t contraction(const struct piece *p, size_t pos, bool any_case) {
    if (p->cps[pos] != '\'' || pos + 1 >= p->end) return 0;
    uint32_t c1 = cpt_at(p, pos + 1);
    if (any_case) c1 = ascii_lower(c1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (pos + 2 >= p->end) return 0;
    uint32_t c2 = cpt_at(p, pos + 2);
    if (any_case) c2 = ascii_lower(c2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
}

static bool is_other(uint16_t f) {  // [^\s\p{L}\p{N}] and inside the piece
    return f != 0 && !(f & (WS | LETTER | NUMBER));
}

// Ends a whitespace run starting at pos: \s+(?!\S) keeps the last space for
// the next word unless the run reaches the piece end, then \s+.
static size_t whitespace_run(struct piece *p, size_t pos) {
    size_t n_ws = 0;
    while (flags_at(p, pos + n_ws) & WS) n_ws++;
    if (n_ws > 1 && cpt_at(p, pos + n_ws) != OUT_OF_RANGE) return pos + n_ws - 1;
    if (n_ws > 0) return pos + n_ws;
    return pos + 1;  // no rule matched: the code point alone
}

// ---------------------------------------------------------------- GPT-2

static void split_gpt2(struct piece *p, size_t pos) {
    while (pos < p->end) {
        uint32_t c = p->cps[pos];
        uint16_t f = flags_at(p, pos);
        size_t   n = contraction(p, pos, false);
        if (n) {
            pos += n;
            add_word(p, pos);
            continue;
        }
        uint16_t f2 = c == ' ' ? flags_at(p, pos + 1) : f;
        if ((f2 & LETTER) || (f2 & NUMBER) || is_other(f2)) {  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
            uint16_t cls = (f2 & LETTER) ? LETTER : (f2 & NUMBER) ? NUMBER : 0;
            pos += (c == ' ');
            if (cls) {
                while (flags_at(p, pos) & cls) pos++;
            } else {
                while (is_other(flags_at(p, pos))) pos++;
            }
            add_word(p, pos);
            continue;
        }
        pos = whitespace_run(p, pos);
        add_word(p, pos);
    }
}

// ---------------------------------------------------------------- LLaMA-3 and Qwen2

static void split_llama3(struct piece *p, size_t pos, size_t max_digits) {
    while (pos < p->end) {
        uint32_t c = p->cps[pos];
        uint16_t f = flags_at(p, pos);
        size_t   n = contraction(p, pos, true);
        if (n) {
            pos += n;
            add_word(p, pos);
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(c == '\r' || c == '\n' || (f & NUMBER)) && ((f & LETTER) || (flags_at(p, pos + 1) & LETTER))) {
            pos++;
            while (flags_at(p, pos) & LETTER) pos++;
            add_word(p, pos);
            continue;
        }
        // \p{N}{1,max_digits}
        if (f & NUMBER) {
            size_t start = pos;
            while (flags_at(p, pos) & NUMBER) {
                if (++pos - start >= max_digits) {
                    add_word(p, pos);
                    start = pos;
                }
            }
            add_word(p, pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (the guard reads the first code point's flags)
        uint16_t f2 = c == ' ' ? flags_at(p, pos + 1) : f;
        if (!(f2 & (WS | LETTER | NUMBER)) && f != 0) {
            pos += (c == ' ');
            while (is_other(flags_at(p, pos))) pos++;
            while (cpt_at(p, pos) == '\r' || cpt_at(p, pos) == '\n') pos++;
            add_word(p, pos);
            continue;
        }
        // \s*[\r\n]+ takes whitespace up to the last line break of the run
        size_t n_ws = 0, last_break = 0;
        while (flags_at(p, pos + n_ws) & WS) {
            uint32_t c2 = cpt_at(p, pos + n_ws);
            if (c2 == '\r' || c2 == '\n') last_break = pos + n_ws + 1;
            n_ws++;
        }
        pos = last_break > 0 ? last_break : whitespace_run(p, pos);
        add_word(p, pos);
    }
}

// ---------------------------------------------------------------- character-class rules

static bool is_number(uint32_t c) {
    return (flm_unicode_flags(c) & NUMBER) != 0;
}

// [\p{P}\$\+<=>\^~\|]
static bool is_punct_or_op(uint32_t c) {
    if (c < 0x80 && c != 0 && strchr("$+<=>^~|", (int)c)) return true;
    uint16_t f = flm_unicode_flags(c);
    return !(f & WS) && (f & FLM_UNICODE_CATEGORIES) == FLM_UNICODE_PUNCTUATION;
}

// Each code point of the class alone (single=true), or maximal runs of it;
// what lies between matches stays one piece.
static void split_class(struct piece *p, size_t pos, bool (*cls)(uint32_t), bool single) {
    size_t i = pos;
    while (i < p->end) {
        if (!cls(p->cps[i])) {
            i++;
            continue;
        }
        add_word(p, i);
        i++;
        if (!single)
            while (i < p->end && cls(p->cps[i])) i++;
        add_word(p, i);
    }
    add_word(p, p->end);
}

static bool is_ascii_digit(uint32_t c) {
    return c >= '0' && c <= '9';
}

// [0-9][0-9][0-9], leftmost and non-overlapping.
static void split_digit_triples(struct piece *p, size_t pos) {
    size_t i = pos;
    while (i + 3 <= p->end) {
        if (is_ascii_digit(p->cps[i]) && is_ascii_digit(p->cps[i + 1]) && is_ascii_digit(p->cps[i + 2])) {
            add_word(p, i);
            i += 3;
            add_word(p, i);
        } else {
            i++;
        }
    }
    add_word(p, p->end);
}

// ---------------------------------------------------------------- driver

enum rule { RULE_GPT2, RULE_LLAMA3, RULE_QWEN2, RULE_DIGIT, RULE_NUMBERS, RULE_PUNCT, RULE_TRIPLES };

static size_t apply(enum rule r, const uint32_t *cps, const uint32_t *lens_in, size_t n_in, uint32_t *lens_out) {
    struct piece p = {.cps = cps, .out = lens_out};
    size_t       start = 0;
    for (size_t k = 0; k < n_in; k++) {
        p.end = start + lens_in[k];
        p.prev = start;
        switch (r) {
        case RULE_GPT2:    split_gpt2(&p, start); break;
        case RULE_LLAMA3:  split_llama3(&p, start, 3); break;
        case RULE_QWEN2:   split_llama3(&p, start, 1); break;
        case RULE_DIGIT:   split_class(&p, start, is_number, true); break;
        case RULE_NUMBERS: split_class(&p, start, is_number, false); break;
        case RULE_PUNCT:   split_class(&p, start, is_punct_or_op, false); break;
        case RULE_TRIPLES: split_digit_triples(&p, start); break;
        }
        start = p.end;
    }
    return p.n_out;
}

size_t flm_pretok_split(enum flm_pretok kind, const uint32_t *cps, size_t n, uint32_t *lens, uint32_t *tmp) {
    static const enum rule rules_default[] = {RULE_PUNCT, RULE_GPT2, RULE_NUMBERS, RULE_TRIPLES};
    static const enum rule rules_gpt2[] = {RULE_GPT2};
    static const enum rule rules_smollm[] = {RULE_DIGIT, RULE_GPT2};
    static const enum rule rules_llama3[] = {RULE_LLAMA3};
    static const enum rule rules_qwen2[] = {RULE_QWEN2};
    const enum rule       *rules = rules_default;
    size_t                 n_rules = 4;
    switch (kind) {
    case FLM_PRETOK_DEFAULT: break;
    case FLM_PRETOK_GPT2:    rules = rules_gpt2, n_rules = 1; break;
    case FLM_PRETOK_SMOLLM:  rules = rules_smollm, n_rules = 2; break;
    case FLM_PRETOK_LLAMA3:  rules = rules_llama3, n_rules = 1; break;
    case FLM_PRETOK_QWEN2:   rules = rules_qwen2, n_rules = 1; break;
    }
    if (n == 0) return 0;
    // Alternate between the two buffers so the last rule writes into lens.
    uint32_t *bufs[2] = {lens, tmp};
    size_t    cur = n_rules % 2 == 0 ? 0 : 1;  // buffer holding the current pieces
    bufs[cur][0] = (uint32_t)n;
    size_t n_pieces = 1;
    for (size_t r = 0; r < n_rules; r++) {
        n_pieces = apply(rules[r], cps, bufs[cur], n_pieces, bufs[cur ^ 1]);
        cur ^= 1;
    }
    return n_pieces;
}

// ---------------------------------------------------------------- names

struct pre_name {
    const char     *name;
    enum flm_pretok kind;
    bool            ignore_merges, add_bos;
};

// tokenizer.ggml.pre values and what llama.cpp does for them.
static const struct pre_name pre_names[] = {
    {"default", FLM_PRETOK_DEFAULT, false, false},
    {"gpt-2", FLM_PRETOK_GPT2, false, false},
    {"phi-2", FLM_PRETOK_GPT2, false, false},
    {"mpt", FLM_PRETOK_GPT2, false, false},
    {"olmo", FLM_PRETOK_GPT2, false, false},
    {"jais", FLM_PRETOK_GPT2, false, false},
    {"exaone4", FLM_PRETOK_GPT2, false, false},
    {"trillion", FLM_PRETOK_GPT2, false, false},
    {"smollm", FLM_PRETOK_SMOLLM, false, false},
    {"starcoder", FLM_PRETOK_SMOLLM, false, false},
    {"refact", FLM_PRETOK_SMOLLM, false, false},
    {"command-r", FLM_PRETOK_SMOLLM, false, false},
    {"codeshell", FLM_PRETOK_SMOLLM, false, false},
    {"exaone", FLM_PRETOK_SMOLLM, false, false},
    {"minerva-7b", FLM_PRETOK_SMOLLM, false, false},
    {"mellum2", FLM_PRETOK_SMOLLM, false, false},
    {"llama3", FLM_PRETOK_LLAMA3, true, true},
    {"llama-v3", FLM_PRETOK_LLAMA3, true, true},
    {"llama-bpe", FLM_PRETOK_LLAMA3, true, true},
    {"falcon3", FLM_PRETOK_LLAMA3, true, true},
    {"falcon-h1", FLM_PRETOK_LLAMA3, true, true},
    {"pixtral", FLM_PRETOK_LLAMA3, true, true},
    {"midm-2.0", FLM_PRETOK_LLAMA3, true, true},
    {"lfm2", FLM_PRETOK_LLAMA3, true, true},
    {"dbrx", FLM_PRETOK_LLAMA3, false, false},
    {"smaug-bpe", FLM_PRETOK_LLAMA3, false, false},
    {"qwen2", FLM_PRETOK_QWEN2, false, false},
    {"deepseek-r1-qwen", FLM_PRETOK_QWEN2, false, false},
    {"megrez", FLM_PRETOK_QWEN2, false, false},
    {"stablelm2", FLM_PRETOK_QWEN2, false, false},
    {"hunyuan", FLM_PRETOK_QWEN2, false, false},
};

bool flm_pretok_lookup(const char *name, struct flm_pretok_info *out) {
    if (!name || !*name) name = "default";
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strcmp(pre_names[i].name, name) == 0) {
            out->kind = pre_names[i].kind;
            out->ignore_merges = pre_names[i].ignore_merges;
            out->add_bos = pre_names[i].add_bos;
            return true;
        }
    }
    return false;
}
