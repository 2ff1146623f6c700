// tokenizer_fuzz.c - libFuzzer entry point: arbitrary bytes through both tokenizers.
//
// The first input byte picks the options (tokenizer kind, pre-tokenizer,
// add_special, parse_special, space prefix); the rest is the text. Small
// built-in vocabularies cover merges, scores, byte fallback, special tokens
// (overlapping ones included) and user-defined whitespace tokens. Every id
// must be in range, the count reported for a too-small buffer must match the
// tokens written into a big enough one, and the pieces must fit.
//
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/tokenizer_fuzz.c \
//         src/text/*.c src/core/*.c -o /tmp/tokenizer_fuzz && /tmp/tokenizer_fuzz -max_total_time=30
#include "text/utf8.h"
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>

static const char *const bpe_tokens[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<u>", "a", "b", "c", "\xc4\xa0", "\xc4\x8a", "ab", "bc", "abc",
    "\xc4\xa0\x61", "1", "12", "'", "s", "'s", "<", ">", "|", "\xc3\xa9", "\xc3\x83", "\xc2\xa9", "\xc4\x8a\xc4\x8a", "",
};
static const int32_t bpe_types[] = {3, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const char *const bpe_merges[] = {
    "b c", "a b", "a bc", "\xc4\xa0 a", "1 2", "' s", "\xc4\x8a \xc4\x8a", "\xc3\x83 \xc2\xa9", "nospace", " x y",
};

static const char *const spm_tokens[] = {
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "\n", "\n\n", "  ", "<b>", "b><",
    "\xe2\x96\x81", "a", "b", "c", "ab", "bc", "\xe2\x96\x81\x61", "<0x41>", "<0xC3>", "<0xFF>", "<0x0A>", "\xc3\xa9",
    "<unused0>",
};
static const int32_t spm_types[] = {3, 3, 3, 2, 3, 3, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 6, 6, 6, 6, 1, 3};

#define N(a) (int32_t)(sizeof(a) / sizeof((a)[0]))
_Static_assert(sizeof bpe_tokens / sizeof bpe_tokens[0] == sizeof bpe_types / sizeof bpe_types[0], "bpe types");
_Static_assert(sizeof spm_tokens / sizeof spm_tokens[0] == sizeof spm_types / sizeof spm_types[0], "spm types");

static struct flm_vocab *build(bool spm, const char *pre, bool space_prefix) {
    size_t tok_lens[64], merge_lens[16];
    float  scores[64];
    const char *const *toks = spm ? spm_tokens : bpe_tokens;
    int32_t            n = spm ? N(spm_tokens) : N(bpe_tokens);
    for (int32_t i = 0; i < n; i++) tok_lens[i] = strlen(toks[i]), scores[i] = -(float)(i % 5);
    for (int32_t i = 0; i < N(bpe_merges); i++) merge_lens[i] = strlen(bpe_merges[i]);
    struct flm_vocab_spec s = {
        .kind = spm ? FLM_VOCAB_SPM : FLM_VOCAB_BPE, .pre = pre, .n_tokens = n, .tokens = toks,
        .token_lens = tok_lens, .scores = scores, .types = spm ? spm_types : bpe_types,
        .n_merges = spm ? 0 : N(bpe_merges), .merges = bpe_merges, .merge_lens = merge_lens,
        .bos = spm ? 2 : 0, .eos = spm ? 1 : 0, .eot = -1, .unk = spm ? 3 : -1, .pad = 0,
        .add_bos = true, .add_eos = !spm, .add_space_prefix = space_prefix,
    };
    struct flm_vocab *v = NULL;
    if (flm_vocab_init(&v, &s, NULL) != FLM_OK) abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const pres[] = {"smollm", "gpt-2", "llama-bpe", "qwen2", "default"};
    if (size == 0) return 0;
    uint8_t opt = data[0];
    bool    spm = opt & 1, add_special = opt & 2, parse_special = opt & 4;
    struct flm_vocab *v = build(spm, pres[(opt >> 3) % 5], (opt >> 6) & 1);
    const char       *text = (const char *)data + 1;
    size_t            len = size - 1;

    // Ask for the count first (no room), then tokenize into a buffer of that size.
    int32_t n = -1, n2 = -1;
    flm_status st = flm_vocab_tokenize(v, text, len, add_special, parse_special, NULL, 0, &n, NULL);
    if (n < 0 || (n == 0) != (st == FLM_OK)) abort();
    int32_t *ids = malloc((size_t)n * sizeof *ids + 1);
    if (flm_vocab_tokenize(v, text, len, add_special, parse_special, ids, n, &n2, NULL) != FLM_OK || n2 != n) abort();
    char  *out = malloc((size_t)n * 64 + 1);
    size_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= flm_vocab_n_tokens(v)) abort();
        int32_t k = flm_vocab_piece(v, ids[i], out + n_out, 64, (opt >> 7) & 1);
        if (k < 0) abort();
        n_out += (size_t)k;
    }
    size_t keep = flm_utf8_incomplete_tail(out, n_out);
    if (keep > 3 || keep > n_out) abort();
    (void)flm_utf8_valid(out, n_out - keep);
    free(out);
    free(ids);
    flm_vocab_free(v);
    return 0;
}
