// gguf_corpus.h - a corpus of malformed GGUF files, built in memory from a
// tiny valid llama model made with the GGUF writer.
//
// Each case carries a name, the status open must return and a substring the
// error message must contain. Cases marked model_level are VALID GGUF files
// (the reader must accept them) that the model loader must refuse: a zero
// head count, a missing tensor, a metadata value of the wrong type.
//
// Usage (any test; header-only, everything static):
//
//     struct gguf_corpus c;
//     if (gguf_corpus_build(&c) != FLM_OK) fail();
//     for (size_t i = 0; i < c.n; i++) use(c.cases[i].name, c.cases[i].buf, c.cases[i].size);
//     gguf_corpus_write_dir(&c, "/tmp/dir");  // <name>.gguf for each case, plus valid.gguf
//     gguf_corpus_free(&c);
//
// Corrupt files are made by patching the bytes of the valid one at fields
// located by searching for their length-prefixed key or tensor name, so the
// corpus does not depend on the reader it tests.
#ifndef FLM_TESTS_GGUF_CORPUS_H
#define FLM_TESTS_GGUF_CORPUS_H

#include "core/fp16.h"
#include "format/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_FN static __attribute__((unused))

// ---------------------------------------------------------------- the valid model

// Shape of the tiny llama: 2 blocks, 32-wide, 2 heads of 16, 1 KV head, FFN 64,
// a SentencePiece vocab of <unk> <s> </s>, 256 byte tokens and a few pieces.
enum {
    GC_N_EMBD    = 32,
    GC_N_HEAD    = 2,
    GC_N_HEAD_KV = 1,
    GC_HEAD_DIM  = 16,
    GC_N_FF      = 64,
    GC_N_LAYER   = 2,
    GC_N_EXTRA   = 8,
    GC_N_VOCAB   = 3 + 256 + GC_N_EXTRA,
};

struct gguf_corpus_opts {
    bool        block_count_as_string;  // llama.block_count written as the string "2"
    const char *name_suffix;            // appended to general.name (shifts the layout)
};

static const char *const gc_extra_pieces[GC_N_EXTRA] = {"\xe2\x96\x81", "\xe2\x96\x81the", "\xe2\x96\x81\x61", "e",
                                                        "t",            "he",              "\xe2\x96\x81hello", "!"};

static uint64_t gc_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

// Plausible weights: block scales of 0.02 (and mins of -0.1), random quants;
// F32 norms are 1.
static void gc_fill(uint8_t *p, size_t nbytes, enum flm_type t, uint64_t *seed) {
    const struct flm_type_layout *l = flm_type_layout(t);
    if (t == FLM_TYPE_F32) {
        for (size_t i = 0; i < nbytes / 4; i++) memcpy(p + 4 * i, &(float){1.0f}, 4);
        return;
    }
    for (size_t b = 0; b < nbytes / l->type_size; b++) {
        uint8_t *blk = p + b * l->type_size;
        for (size_t i = 0; i < l->type_size; i++) blk[i] = (uint8_t)gc_rand(seed);
        uint16_t d = flm_f32_to_f16(0.02f), m = flm_f32_to_f16(-0.1f);
        memcpy(blk, &d, 2);
        if (t == FLM_TYPE_Q4_1) memcpy(blk + 2, &m, 2);
    }
}

static flm_status gc_tensor(struct flm_gguf_writer *w, const char *name, enum flm_type t, int64_t ne0, int64_t ne1,
                            uint64_t *seed) {
    int64_t ne[2] = {ne0, ne1};
    uint32_t n_dims = ne1 > 0 ? 2 : 1;
    size_t nbytes = flm_type_row_size(t, ne0) * (size_t)(ne1 > 0 ? ne1 : 1);
    uint8_t *data = malloc(nbytes);
    if (!data) return FLM_ERR_NOMEM;
    gc_fill(data, nbytes, t, seed);
    flm_status st = flm_gguf_writer_tensor(w, name, t, n_dims, ne, data, nbytes);
    free(data);
    return st;
}

static flm_status gc_meta(struct flm_gguf_writer *w, const struct gguf_corpus_opts *o) {
    char name[128];
    snprintf(name, sizeof name, "flashlm corpus tiny llama%s", o->name_suffix ? o->name_suffix : "");
    const char *tokens[GC_N_VOCAB];
    char bytes[256][8];
    float scores[GC_N_VOCAB];
    int32_t types[GC_N_VOCAB];
    tokens[0] = "<unk>", tokens[1] = "<s>", tokens[2] = "</s>";
    for (int i = 0; i < 256; i++) snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i), tokens[3 + i] = bytes[i];
    for (int i = 0; i < GC_N_EXTRA; i++) tokens[259 + i] = gc_extra_pieces[i];
    for (int i = 0; i < GC_N_VOCAB; i++) {
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;  // unknown, control, byte, normal
    }
    flm_status st = FLM_OK;
#define GC_DO(x) if (st == FLM_OK) st = (x)
    GC_DO(flm_gguf_writer_kv_str(w, "general.architecture", "llama"));
    GC_DO(flm_gguf_writer_kv_str(w, "general.name", name));
    GC_DO(o->block_count_as_string ? flm_gguf_writer_kv_str(w, "llama.block_count", "2")
                                   : flm_gguf_writer_kv_u32(w, "llama.block_count", GC_N_LAYER));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.context_length", 128));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.embedding_length", GC_N_EMBD));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.feed_forward_length", GC_N_FF));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.attention.head_count", GC_N_HEAD));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.attention.head_count_kv", GC_N_HEAD_KV));
    GC_DO(flm_gguf_writer_kv_f32(w, "llama.rope.freq_base", 10000.0f));
    GC_DO(flm_gguf_writer_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.rope.dimension_count", GC_HEAD_DIM));
    GC_DO(flm_gguf_writer_kv_u32(w, "llama.vocab_size", GC_N_VOCAB));
    GC_DO(flm_gguf_writer_kv_u32(w, "general.file_type", 7));
    GC_DO(flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama"));
    GC_DO(flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", tokens, GC_N_VOCAB));
    GC_DO(flm_gguf_writer_kv_arr(w, "tokenizer.ggml.scores", FLM_GGUF_FLOAT32, scores, GC_N_VOCAB));
    GC_DO(flm_gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", FLM_GGUF_INT32, types, GC_N_VOCAB));
    GC_DO(flm_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 1));
    GC_DO(flm_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 2));
    GC_DO(flm_gguf_writer_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0));
    GC_DO(flm_gguf_writer_kv_bool(w, "tokenizer.ggml.add_bos_token", true));
    GC_DO(flm_gguf_writer_kv_str(w, "tokenizer.chat_template",
                                 "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}</s>{% endfor %}"));
    GC_DO(flm_gguf_writer_kv_u32(w, "general.quantization_version", 2));
#undef GC_DO
    return st;
}

static flm_status gc_tensors(struct flm_gguf_writer *w) {
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    flm_status st = gc_tensor(w, "token_embd.weight", FLM_TYPE_Q8_0, GC_N_EMBD, GC_N_VOCAB, &seed);
    for (int l = 0; l < GC_N_LAYER && st == FLM_OK; l++) {
        static const struct { const char *name; enum flm_type t; int64_t ne0, ne1; } blk[] = {
            {"attn_norm", FLM_TYPE_F32, GC_N_EMBD, 0},
            {"attn_q", FLM_TYPE_Q8_0, GC_N_EMBD, GC_N_HEAD * GC_HEAD_DIM},
            {"attn_k", FLM_TYPE_Q8_0, GC_N_EMBD, GC_N_HEAD_KV * GC_HEAD_DIM},
            {"attn_v", FLM_TYPE_Q8_0, GC_N_EMBD, GC_N_HEAD_KV * GC_HEAD_DIM},
            {"attn_output", FLM_TYPE_Q8_0, GC_N_HEAD * GC_HEAD_DIM, GC_N_EMBD},
            {"ffn_norm", FLM_TYPE_F32, GC_N_EMBD, 0},
            {"ffn_gate", FLM_TYPE_Q4_0, GC_N_EMBD, GC_N_FF},
            {"ffn_up", FLM_TYPE_Q4_0, GC_N_EMBD, GC_N_FF},
            {"ffn_down", FLM_TYPE_Q4_1, GC_N_FF, GC_N_EMBD},
        };
        for (size_t i = 0; i < sizeof blk / sizeof blk[0] && st == FLM_OK; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, blk[i].name);
            st = gc_tensor(w, name, blk[i].t, blk[i].ne0, blk[i].ne1, &seed);
        }
    }
    // last, and 128 bytes (a multiple of the alignment): the file ends with its data
    if (st == FLM_OK) st = gc_tensor(w, "output_norm.weight", FLM_TYPE_F32, GC_N_EMBD, 0, &seed);
    return st;
}

// Builds the tiny llama (GGUF v3, general.alignment = 32 written explicitly)
// into a malloc'd buffer.
GC_FN flm_status gguf_corpus_model(const struct gguf_corpus_opts *o, void **buf, size_t *size) {
    struct flm_gguf_writer *w;
    flm_status st = flm_gguf_writer_init(&w, 3, 32);
    if (st != FLM_OK) return st;
    st = gc_meta(w, o);
    if (st == FLM_OK) st = gc_tensors(w);
    if (st == FLM_OK) st = flm_gguf_writer_to_buffer(w, buf, size);
    flm_gguf_writer_free(w);
    return st;
}

// ---------------------------------------------------------------- locating fields

// Offset of the first length-prefixed occurrence of s (a key or tensor name),
// or SIZE_MAX.
static size_t gc_find(const uint8_t *buf, size_t size, const char *s) {
    uint64_t len = strlen(s);
    for (size_t i = 0; i + 8 + len <= size; i++)
        if (memcmp(buf + i, &len, 8) == 0 && memcmp(buf + i + 8, s, len) == 0) return i;
    return SIZE_MAX;
}

// at + k, keeping "not found" (SIZE_MAX) as it is.
static size_t gc_plus(size_t at, size_t k) { return at == SIZE_MAX ? at : at + k; }

// Offset of a key's u32 value type (the value follows it).
static size_t gc_kv_type(const uint8_t *buf, size_t size, const char *key) {
    size_t at = gc_find(buf, size, key);
    return gc_plus(at, 8 + strlen(key));
}

enum gc_field { GC_NAME, GC_NDIMS, GC_NE0, GC_NE1, GC_TYPE, GC_OFFSET, GC_END };

// Offset of a field of a tensor info (the tensor's dims are read from the file).
static size_t gc_ti(const uint8_t *buf, size_t size, const char *name, enum gc_field f) {
    size_t at = gc_find(buf, size, name);
    if (at == SIZE_MAX || f == GC_NAME) return at;
    size_t nd = at + 8 + strlen(name);
    uint32_t n_dims;
    memcpy(&n_dims, buf + nd, 4);
    switch (f) {
    case GC_NDIMS: return nd;
    case GC_NE0: return nd + 4;
    case GC_NE1: return nd + 12;
    case GC_TYPE: return nd + 4 + 8 * n_dims;
    case GC_OFFSET: return nd + 8 + 8 * n_dims;
    default: return nd + 16 + 8 * n_dims;
    }
}

// ---------------------------------------------------------------- the cases

struct gguf_corpus_case {
    char        name[48];
    flm_status  status;       // what open must return
    const char *expect;       // a substring of the error message
    bool        model_level;  // valid GGUF; the model loader must refuse it
    uint8_t    *buf;
    size_t      size;
};

struct gguf_corpus {
    uint8_t                 *base;  // the valid model
    size_t                   base_size;
    struct gguf_corpus_case *cases;
    size_t                   n, cap;
    bool                     failed;  // a case could not be built (a field not found)
};

GC_FN void gguf_corpus_free(struct gguf_corpus *c) {
    for (size_t i = 0; i < c->n; i++) free(c->cases[i].buf);
    free(c->cases);
    free(c->base);
    memset(c, 0, sizeof *c);
}

// A new case holding a copy of src (size bytes of it); NULL on failure.
static struct gguf_corpus_case *gc_add_from(struct gguf_corpus *c, const char *name, const char *expect,
                                            const uint8_t *src, size_t size) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct gguf_corpus_case *p = realloc(c->cases, cap * sizeof *p);
        if (!p) return c->failed = true, NULL;
        c->cases = p;
        c->cap = cap;
    }
    struct gguf_corpus_case *k = &c->cases[c->n];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    k->status = FLM_ERR_FORMAT;
    k->expect = expect;
    k->size = size;
    k->buf = malloc(size ? size : 1);
    if (!k->buf) return c->failed = true, NULL;
    if (size) memcpy(k->buf, src, size);
    c->n++;
    return k;
}

static struct gguf_corpus_case *gc_add(struct gguf_corpus *c, const char *name, const char *expect) {
    return gc_add_from(c, name, expect, c->base, c->base_size);
}

// The valid model cut to size bytes.
static void gc_cut(struct gguf_corpus *c, const char *name, const char *expect, size_t size) {
    if (size == SIZE_MAX || size >= c->base_size) {
        c->failed = true;
        return;
    }
    gc_add_from(c, name, expect, c->base, size);
}

// The valid model with n bytes at `at` replaced by v (little endian).
static void gc_set(struct gguf_corpus *c, const char *name, const char *expect, size_t at, uint64_t v, size_t n) {
    if (at == SIZE_MAX || at + n > c->base_size) {
        c->failed = true;
        return;
    }
    struct gguf_corpus_case *k = gc_add(c, name, expect);
    if (k) memcpy(k->buf + at, &v, n);
}

static void gc_bytes(struct gguf_corpus *c, const char *name, const char *expect, size_t at, const char *s) {
    size_t n = strlen(s);
    if (at == SIZE_MAX || at + n > c->base_size) {
        c->failed = true;
        return;
    }
    struct gguf_corpus_case *k = gc_add(c, name, expect);
    if (k) memcpy(k->buf + at, s, n);
}

static void gc_file_cases(struct gguf_corpus *c) {
    const uint8_t *b = c->base;
    size_t n = c->base_size;
    gc_add_from(c, "empty", "empty", b, 0);
    gc_bytes(c, "bad_magic", "magic", 0, "GGUG");
    gc_set(c, "version_1", "version 1", 4, 1, 4);
    gc_set(c, "version_4", "version 4", 4, 4, 4);
    gc_set(c, "version_big_endian", "big-endian", 4, 0x03000000u, 4);
    gc_set(c, "huge_n_tensors", "n_tensors", 8, 1ull << 62, 8);
    gc_set(c, "huge_n_kv", "n_kv", 16, 1ull << 62, 8);
    gc_set(c, "n_kv_max", "n_kv", 16, UINT64_MAX, 8);
    gc_cut(c, "cut_in_magic", "header", 2);
    gc_cut(c, "cut_in_version", "header", 6);
    gc_cut(c, "cut_in_n_tensors", "header", 12);
    gc_cut(c, "cut_in_n_kv", "header", 20);
    // early cuts fail the count check (too few bytes for n_kv pairs); later
    // ones reach the item they cut
    gc_cut(c, "cut_after_header", "n_kv", 24);
    gc_cut(c, "cut_in_first_key", "n_kv", gc_plus(gc_find(b, n, "general.alignment"), 8 + 5));
    gc_cut(c, "cut_in_key", "key string length 27", gc_plus(gc_find(b, n, "tokenizer.ggml.bos_token_id"), 8 + 5));
    gc_cut(c, "cut_in_key_length", "key string at offset", gc_plus(gc_find(b, n, "tokenizer.ggml.eos_token_id"), 5));
    gc_cut(c, "cut_in_value_type", "value type", gc_plus(gc_kv_type(b, n, "tokenizer.ggml.unknown_token_id"), 2));
    gc_cut(c, "cut_in_value", "'tokenizer.ggml.unknown_token_id': value",
           gc_plus(gc_kv_type(b, n, "tokenizer.ggml.unknown_token_id"), 4 + 2));
    gc_cut(c, "cut_in_string_value", "'tokenizer.chat_template': string value length",
           gc_plus(gc_kv_type(b, n, "tokenizer.chat_template"), 4 + 8 + 10));
    size_t tok = gc_kv_type(b, n, "tokenizer.ggml.tokens");
    gc_cut(c, "cut_in_string_array", "tokenizer.ggml.tokens", gc_plus(tok, 4 + 12 + 1000));
    size_t sc = gc_kv_type(b, n, "tokenizer.ggml.scores");
    gc_cut(c, "cut_in_numeric_array", "tokenizer.ggml.scores", gc_plus(sc, 4 + 12 + 99));
    gc_cut(c, "cut_in_tensor_info", "blk.1.attn_q.weight", gc_ti(b, n, "blk.1.attn_q.weight", GC_NE1));
    gc_cut(c, "cut_in_tensor_name", "tensor #", gc_plus(gc_ti(b, n, "blk.0.ffn_up.weight", GC_NAME), 12));
    size_t end = gc_ti(b, n, "output_norm.weight", GC_END);
    gc_cut(c, "cut_in_padding", "data section", gc_plus(end, 1));
    gc_cut(c, "cut_in_data", "output_norm.weight", n - 1);
    gc_cut(c, "cut_in_first_tensor_data", "token_embd.weight", gc_plus(end, (32 - end % 32) % 32 + 100));
}

static void gc_kv_cases(struct gguf_corpus *c) {
    const uint8_t *b = c->base;
    size_t n = c->base_size;
    size_t k0 = gc_find(b, n, "general.alignment");
    gc_set(c, "huge_key_length", "length", k0, 1ull << 62, 8);
    gc_set(c, "empty_key", "empty", k0, 0, 8);
    size_t name = gc_kv_type(b, n, "general.name");
    gc_set(c, "huge_string_length", "length", gc_plus(name, 4), 1ull << 62, 8);
    size_t tok = gc_kv_type(b, n, "tokenizer.ggml.tokens");
    gc_set(c, "huge_string_array_length", "strings", gc_plus(tok, 8), 1ull << 40, 8);
    gc_set(c, "string_array_length_plus_one", "key #", gc_plus(tok, 8),
           GC_N_VOCAB + 1, 8);
    size_t sc = gc_kv_type(b, n, "tokenizer.ggml.scores");
    gc_set(c, "huge_array_length", "array length", gc_plus(sc, 8), 1ull << 61, 8);
    gc_set(c, "array_of_arrays", "arrays of arrays", gc_plus(sc, 4), FLM_GGUF_ARRAY, 4);
    gc_set(c, "unknown_array_elem_type", "unknown array element type 13", gc_plus(sc, 4), 13, 4);
    gc_set(c, "unknown_value_type", "unknown value type 13", gc_kv_type(b, n, "llama.context_length"), 13, 4);
    gc_set(c, "unknown_value_type_huge", "unknown value type", gc_kv_type(b, n, "llama.context_length"),
           0xffffffffu, 4);
    size_t bos = gc_kv_type(b, n, "tokenizer.ggml.add_bos_token");
    gc_set(c, "bool_value_2", "bool", gc_plus(bos, 4), 2, 1);
    size_t eos = gc_find(b, n, "tokenizer.ggml.eos_token_id");
    gc_bytes(c, "duplicate_key", "duplicate key 'tokenizer.ggml.bos_token_id'",
             gc_plus(eos, 8 + strlen("tokenizer.ggml.")), "bos");
    size_t al = gc_kv_type(b, n, "general.alignment");
    gc_set(c, "alignment_not_pow2", "general.alignment = 48", gc_plus(al, 4), 48, 4);
    gc_set(c, "alignment_zero", "general.alignment = 0", gc_plus(al, 4), 0, 4);
    gc_set(c, "alignment_wrong_type", "general.alignment has type i32", al, FLM_GGUF_INT32, 4);
    // a larger power of two is valid, but then the tensor offsets are misaligned
    gc_set(c, "alignment_64", "alignment 64", gc_plus(al, 4), 64, 4);
}

static void gc_tensor_cases(struct gguf_corpus *c) {
    const uint8_t *b = c->base;
    size_t n = c->base_size;
    const char *q = "blk.0.attn_q.weight";
    gc_set(c, "empty_tensor_name", "empty name", gc_ti(b, n, q, GC_NAME), 0, 8);
    gc_set(c, "n_dims_0", "n_dims 0", gc_ti(b, n, q, GC_NDIMS), 0, 4);
    gc_set(c, "n_dims_5", "n_dims 5", gc_ti(b, n, q, GC_NDIMS), 5, 4);
    gc_set(c, "n_dims_huge", "n_dims", gc_ti(b, n, q, GC_NDIMS), 0x80000001u, 4);
    gc_set(c, "negative_dim", "negative", gc_ti(b, n, q, GC_NE1), UINT64_MAX, 8);
    gc_set(c, "dims_product_overflow", "overflows int64", gc_ti(b, n, q, GC_NE1), 1ull << 62, 8);
    gc_set(c, "bytes_overflow", "overflows", gc_ti(b, n, "output_norm.weight", GC_NE0), 1ull << 62, 8);
    gc_set(c, "ne0_not_block_multiple", "not a multiple of the q8_0 block size 32", gc_ti(b, n, q, GC_NE0), 48, 8);
    gc_set(c, "unknown_tensor_type_4", "unknown tensor type 4", gc_ti(b, n, q, GC_TYPE), 4, 4);
    gc_set(c, "unknown_tensor_type_huge", "unknown tensor type", gc_ti(b, n, q, GC_TYPE), 0xfffffff0u, 4);
    gc_set(c, "misaligned_offset", "not a multiple of the alignment", gc_ti(b, n, q, GC_OFFSET), 16 + 32 * 300, 8);
    gc_set(c, "offset_past_end", "beyond file size", gc_ti(b, n, q, GC_OFFSET), 1ull << 40, 8);
    gc_set(c, "offset_huge", "beyond file size", gc_ti(b, n, q, GC_OFFSET), UINT64_MAX - 31, 8);
    size_t on = gc_ti(b, n, "output_norm.weight", GC_OFFSET);
    uint64_t onoff = 0;
    if (on != SIZE_MAX) memcpy(&onoff, b + on, 8);
    gc_set(c, "data_past_end", "output_norm.weight' data", on, onoff + 32, 8);
    // attn_k takes attn_q's offset: same bytes twice
    uint64_t qoff;
    size_t qo = gc_ti(b, n, q, GC_OFFSET);
    if (qo != SIZE_MAX) memcpy(&qoff, b + qo, 8);
    gc_set(c, "overlapping_tensors", "overlap", gc_ti(b, n, "blk.0.attn_k.weight", GC_OFFSET),
           qo == SIZE_MAX ? 0 : qoff, 8);
    gc_set(c, "overlapping_partly", "overlap", gc_ti(b, n, "blk.0.attn_k.weight", GC_OFFSET),
           qo == SIZE_MAX ? 0 : qoff + 1024, 8);
    gc_bytes(c, "duplicate_tensor_name", "duplicate tensor name 'blk.0.attn_k.weight'",
             gc_plus(gc_ti(b, n, "blk.0.attn_v.weight", GC_NAME), 8), "blk.0.attn_k");
    // a 70-byte name: the length prefix says 70 and the next bytes are read as the name
    gc_set(c, "tensor_name_too_long", "70 bytes long", gc_ti(b, n, q, GC_NAME), 70, 8);
}

// Valid GGUF files that a model loader must refuse.
static void gc_model_cases(struct gguf_corpus *c) {
    const uint8_t *b = c->base;
    size_t n = c->base_size;
    struct gguf_corpus_case *k;
    size_t hc = gc_kv_type(b, n, "llama.attention.head_count");
    gc_set(c, "model_head_count_0", "head_count", gc_plus(hc, 4), 0, 4);
    size_t ne = gc_kv_type(b, n, "llama.embedding_length");
    gc_set(c, "model_embedding_length_mismatch", "token_embd.weight", gc_plus(ne, 4), 64, 4);
    gc_bytes(c, "model_missing_attn_q", "blk.0.attn_q.weight", gc_plus(gc_ti(b, n, "blk.0.attn_q.weight", GC_NAME), 8),
             "blk.0.attn_x");
    gc_bytes(c, "model_missing_architecture", "general.architecture", gc_plus(gc_find(b, n, "general.architecture"), 8),
             "general.architectur_");
    size_t arch = gc_kv_type(b, n, "general.architecture");
    gc_bytes(c, "model_unknown_architecture", "llamb", gc_plus(arch, 4 + 8), "llamb");
    gc_set(c, "model_attn_q_wrong_shape", "blk.0.attn_q.weight", gc_ti(b, n, "blk.0.attn_q.weight", GC_NE1), 31, 8);
    for (size_t i = c->n; i-- > 0 && strncmp(c->cases[i].name, "model_", 6) == 0;) c->cases[i].model_level = true;
    void *buf;
    size_t size;
    struct gguf_corpus_opts o = {.block_count_as_string = true};
    if (gguf_corpus_model(&o, &buf, &size) != FLM_OK) {
        c->failed = true;
        return;
    }
    if ((k = gc_add_from(c, "model_block_count_string", "block_count", buf, size))) k->model_level = true;
    free(buf);
    for (size_t i = 0; i < c->n; i++)
        if (c->cases[i].model_level) c->cases[i].status = FLM_OK;
}

// Builds the valid model and every case. FLM_ERR_INVALID when a case could not
// be built (the model's layout changed under the corpus).
GC_FN flm_status gguf_corpus_build(struct gguf_corpus *c) {
    memset(c, 0, sizeof *c);
    // the tensor infos must not end on an alignment boundary, so that there is
    // padding to cut into: lengthen general.name until they do not
    char suffix[40] = "";
    for (int tries = 0;; tries++) {
        struct gguf_corpus_opts o = {.name_suffix = suffix};
        void *buf;
        flm_status st = gguf_corpus_model(&o, &buf, &c->base_size);
        if (st != FLM_OK) return st;
        c->base = buf;
        size_t end = gc_ti(c->base, c->base_size, "output_norm.weight", GC_END);
        if (end != SIZE_MAX && end % 32 != 0) break;
        free(c->base);
        c->base = NULL;
        if (tries == 8) return FLM_ERR_INVALID;
        strcat(suffix, "+");
    }
    gc_file_cases(c);
    gc_kv_cases(c);
    gc_tensor_cases(c);
    gc_model_cases(c);
    if (c->failed) {
        gguf_corpus_free(c);
        return FLM_ERR_INVALID;
    }
    return FLM_OK;
}

// Writes valid.gguf and <case>.gguf for every case into dir (which must
// exist). Returns 0, or -1 when a file could not be written.
GC_FN int gguf_corpus_write_dir(const struct gguf_corpus *c, const char *dir) {
    char path[1024];
    for (size_t i = 0; i <= c->n; i++) {
        const char *name = i < c->n ? c->cases[i].name : "valid";
        const uint8_t *buf = i < c->n ? c->cases[i].buf : c->base;
        size_t size = i < c->n ? c->cases[i].size : c->base_size;
        snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f) return -1;
        bool ok = fwrite(buf, 1, size, f) == size;
        if (fclose(f) != 0 || !ok) return -1;
    }
    return 0;
}

#endif
