// vocab_impl.h - the vocabulary's internals, shared by vocab.c, bpe.c, spm.c
// and partition.c. Not part of any public interface.
#ifndef FLM_TEXT_VOCAB_IMPL_H
#define FLM_TEXT_VOCAB_IMPL_H

#include "text/pretok.h"
#include "text/vocab.h"

// Token attributes, bit for bit llama.cpp's llama_token_attr.
enum {
    ATTR_UNKNOWN      = 1 << 0,
    ATTR_UNUSED       = 1 << 1,
    ATTR_NORMAL       = 1 << 2,
    ATTR_CONTROL      = 1 << 3,
    ATTR_USER_DEFINED = 1 << 4,
    ATTR_BYTE         = 1 << 5,
};

// Open-addressing hash table of int32 entries (-1 = empty slot).
struct flm_idx_table {
    int32_t *slots;  // [mask + 1]
    uint32_t mask;
};

struct flm_vocab {
    enum flm_vocab_kind kind;
    struct flm_pretok_info pre;
    int32_t  n_tokens;
    char    *text;      // all token texts back to back
    uint32_t *text_off; // [n_tokens + 1]: token i is text[text_off[i] .. text_off[i + 1])
    float    *scores;   // [n_tokens]
    uint16_t *attr;     // [n_tokens] ATTR_* bits
    uint8_t  *eog;      // [n_tokens] 1 when the token ends generation
    struct flm_idx_table tokens;  // token text -> id (the last id wins on duplicates)

    // BPE merges: merge i joins left and right (parsed like llama.cpp: split at
    // the first space after the first byte); rank = i, the first one wins.
    int32_t  n_merges;
    char    *merge_text;  // all "left right" strings back to back
    uint32_t *merge_off;  // [n_merges + 1]
    uint32_t *merge_split;  // [n_merges] offset of the separating space (0: unusable)
    struct flm_idx_table merges;

    // Special tokens (CONTROL, USER_DEFINED, UNKNOWN), longest first, ties by id.
    int32_t  n_special;
    int32_t *special;       // [n_special] ids
    int32_t *special_rank;  // [n_tokens] position in special[], -1 if not special
    uint64_t special_lens[256];  // by first byte: bit L-1 set if a special of length L (<= 64) starts with it
    bool     special_long[256];  // by first byte: a special longer than 64 bytes starts with it

    int32_t byte_token[256];    // SPM: <0xXX> (or the byte itself); BPE: the 1-byte string; -1 if none
    int32_t bos, eos, eot, unk, pad;
    bool    add_bos, add_eos, add_space_prefix;
};

// Growable token list used while tokenizing.
struct flm_tok_list {
    int32_t *ids;
    size_t   n, cap;
    bool     oom;
};
void flm_vocab_tok_push(struct flm_tok_list *l, int32_t id);

// Raw text of a token.
static inline const char *tok_text(const struct flm_vocab *v, int32_t id, size_t *len) {
    *len = v->text_off[id + 1] - v->text_off[id];
    return v->text + v->text_off[id];
}

// Rank of merging left+right, -1 when no such merge.
int32_t flm_vocab_merge_rank(const struct flm_vocab *v, const char *l, size_t nl, const char *r, size_t nr);

// A fragment of the input: raw text [off, off + len) or one special token.
struct flm_frag {
    size_t  off, len;
    int32_t tok;   // -1 for raw text
    int32_t next;  // index of the next fragment, -1 at the end
};
struct flm_frag_list {
    struct flm_frag *f;
    size_t           n, cap;
};
// Splits text into raw-text fragments and special tokens the way llama.cpp's
// tokenizer_st_partition does. Fragments are listed from f[0] along next.
flm_status flm_vocab_partition(const struct flm_vocab *v, const char *text, size_t len, bool parse_special,
                               struct flm_frag_list *out);

// Tokenizes one raw fragment, appending ids.
flm_status flm_vocab_bpe(const struct flm_vocab *v, const char *text, size_t len, struct flm_tok_list *out);
flm_status flm_vocab_spm(const struct flm_vocab *v, const char *text, size_t len, struct flm_tok_list *out);

// GPT-2's byte <-> printable code point mapping (bytes that print as
// themselves keep their value; the others map to U+0100.. in byte order).
uint32_t flm_bpe_byte_to_cp(uint8_t b);
int      flm_bpe_cp_to_byte(uint32_t cp);  // -1 when cp is not in the mapping

#endif
