// vocab.h - tokenizers built from GGUF metadata.
//
// Two kinds, chosen by tokenizer.ggml.model: "gpt2" -> byte-level BPE with
// ranked merges and the pre-tokenizer named by tokenizer.ggml.pre (SmolLM2:
// "smollm"; also "gpt-2", "llama-bpe"/"llama3", "qwen2", "default" and the
// names sharing their rules, see text/pretok.c); "llama" -> SentencePiece-style
// score-driven merges with byte fallback (<0xXX> tokens) and U+2581 for spaces
// (Gemma 3). Special tokens are matched as whole strings before either runs,
// longest first over the whole text: USER_DEFINED ones always, CONTROL and
// UNKNOWN ones only with parse_special. Behaviour matches llama.cpp's
// tokenizer on the same GGUF: the token ids are identical (fixtures from
// llama.cpp in tests/fixtures/tokens/), including llama.cpp's by-name rules
// that make tokens such as "<|im_end|>", "<end_of_turn>" or "</s>" control
// and end-of-generation tokens.
//
// Not supported: the per-token lstrip/rstrip attributes llama.cpp sets by
// model name (phi-3, jina, modern-bert); other tokenizer models (WPM, UGM,
// RWKV) and other pre-tokenizers return FLM_ERR_UNSUPPORTED. Where llama.cpp
// throws (an SPM byte with neither a byte token nor a 1-byte token; code
// points above U+10FFFF from lead bytes F5..F7 in BPE text) this module keeps
// going (unknown token; U+FFFD).
//
// A vocabulary is read-only after init: any number of threads may tokenize
// with it at once. Tokenizing allocates its scratch per call.
#ifndef FLM_TEXT_VOCAB_H
#define FLM_TEXT_VOCAB_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_gguf;

enum flm_vocab_kind { FLM_VOCAB_BPE = 1, FLM_VOCAB_SPM = 2 };

// GGUF tokenizer.ggml.token_type values.
enum flm_token_type {
    FLM_TOKEN_NORMAL       = 1,
    FLM_TOKEN_UNKNOWN      = 2,
    FLM_TOKEN_CONTROL      = 3,
    FLM_TOKEN_USER_DEFINED = 4,
    FLM_TOKEN_UNUSED       = 5,
    FLM_TOKEN_BYTE         = 6,
};

// Everything a tokenizer is built from; token and merge strings need not be
// NUL-terminated (pre is a C string; NULL means "default"). Ids outside the
// vocabulary count as absent; eot = -1 lets init find it by name.
// flm_vocab_init copies what it keeps, so the spec may be freed afterwards.
struct flm_vocab_spec {
    enum flm_vocab_kind kind;
    const char         *pre;          // pre-tokenizer name ("smollm", "llama3", "default", ...)
    int32_t             n_tokens;
    const char *const  *tokens;       // [n_tokens]
    const size_t       *token_lens;   // [n_tokens]
    const float        *scores;       // [n_tokens] or NULL (SPM merge priority)
    const int32_t      *types;        // [n_tokens] or NULL (all NORMAL)
    int32_t             n_merges;
    const char *const  *merges;       // [n_merges] "left right" (BPE)
    const size_t       *merge_lens;
    int32_t             bos, eos, eot, unk, pad;  // -1 when absent
    bool                add_bos, add_eos, add_space_prefix;
};

struct flm_vocab;

flm_status flm_vocab_init(struct flm_vocab **out, const struct flm_vocab_spec *spec, struct flm_err *err);
// Reads tokenizer.ggml.* from a GGUF file and calls flm_vocab_init.
flm_status flm_vocab_load(struct flm_vocab **out, const struct flm_gguf *g, struct flm_err *err);
void       flm_vocab_free(struct flm_vocab *v);

int32_t flm_vocab_n_tokens(const struct flm_vocab *v);
int32_t flm_vocab_bos(const struct flm_vocab *v);
int32_t flm_vocab_eos(const struct flm_vocab *v);
// End-of-turn token: tokenizer.ggml.eot_token_id, else found by name like
// llama.cpp ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", ...); -1 if none.
int32_t flm_vocab_eot(const struct flm_vocab *v);
bool    flm_vocab_add_bos(const struct flm_vocab *v);
// End of generation: eos, eot and the tokens llama.cpp treats so by name.
bool    flm_vocab_is_eog(const struct flm_vocab *v, int32_t tok);
bool    flm_vocab_is_control(const struct flm_vocab *v, int32_t tok);
// llama.cpp's llama_token_attr bits for a token (its GGUF type after
// llama.cpp's by-name overrides); 0 for an invalid id.
uint32_t flm_vocab_attr(const struct flm_vocab *v, int32_t tok);
// Token id whose text is exactly s (special tokens included), -1 if none.
int32_t flm_vocab_find(const struct flm_vocab *v, const char *s, size_t len);
// Raw vocabulary string of a token (borrowed until flm_vocab_free, not
// NUL-terminated); NULL for an invalid id.
const char *flm_vocab_text(const struct flm_vocab *v, int32_t tok, size_t *len);

// Same contract as flm_tokenize in flashlm.h.
flm_status flm_vocab_tokenize(const struct flm_vocab *v, const char *text, size_t len, bool add_special,
                              bool parse_special, int32_t *out, int32_t n_max, int32_t *n_out,
                              struct flm_err *err);
// Same contract as flm_token_to_piece in flashlm.h: llama.cpp's
// llama_token_to_piece with lstrip 0. BPE pieces map GPT-2's printable code
// points back to bytes, SPM pieces turn U+2581 into spaces, <0xXX> tokens give
// their byte; USER_DEFINED tokens are their raw text; CONTROL and UNKNOWN
// tokens are empty unless special. A sequence's text is its pieces
// concatenated (text/utf8.h helps to stream it without broken characters).
int32_t flm_vocab_piece(const struct flm_vocab *v, int32_t tok, char *buf, int32_t n, bool special);

#endif
