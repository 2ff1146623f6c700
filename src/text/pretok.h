// pretok.h - byte-level BPE pre-tokenizers: split text into words before merging.
//
// Each kind is the sequence of splitting rules llama.cpp applies for the
// tokenizer.ggml.pre names listed in pretok.c; each rule splits every piece
// the previous rule produced. The rules are implemented directly on code
// points with llama.cpp's Unicode classes (text/unicode.h), which is what
// llama.cpp itself runs for these patterns (its hand-written GPT-2, LLaMA-3
// and Qwen2 splitters, and category-collapsed std::regex for the simple
// character-class rules), so the split points are identical to llama.cpp's,
// including on unassigned code points and U+FFFD from invalid bytes.
#ifndef FLM_TEXT_PRETOK_H
#define FLM_TEXT_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flm_pretok {
    FLM_PRETOK_DEFAULT = 0,  // punctuation runs, GPT-2, \p{N}+, [0-9]{3}
    FLM_PRETOK_GPT2,         // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    FLM_PRETOK_SMOLLM,       // \p{N} (each digit alone), then GPT-2
    FLM_PRETOK_LLAMA3,       // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    FLM_PRETOK_QWEN2,        // as LLAMA3 with \p{N} instead of \p{N}{1,3}
};

struct flm_pretok_info {
    enum flm_pretok kind;
    bool            ignore_merges;  // a word that is a whole token skips merging
    bool            add_bos;        // llama.cpp's default when the GGUF has no add_bos_token
};

// Looks up a tokenizer.ggml.pre name (NULL or "" mean "default"); false when
// the name is not one this module implements.
bool flm_pretok_lookup(const char *name, struct flm_pretok_info *out);

// Splits cps[0..n) into words; writes each word's length in code points to
// lens[] and returns the number of words. lens and tmp must hold n entries.
size_t flm_pretok_split(enum flm_pretok kind, const uint32_t *cps, size_t n, uint32_t *lens, uint32_t *tmp);

#endif
