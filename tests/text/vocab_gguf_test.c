// vocab_gguf_test.c - flm_vocab_load on small GGUF files built in memory.
//
// Checks llama.cpp's defaults for missing keys, integer scores, and that
// malformed or unsupported tokenizer metadata is an error, never a crash.
#include "test_util.h"

#include "format/gguf.h"
#include "text/vocab.h"

#include <string.h>

typedef void (*add_keys_fn)(struct flm_gguf_writer *w);

// Builds a GGUF with the keys add_keys writes and loads its vocabulary.
static flm_status load(add_keys_fn add_keys, struct flm_vocab **v, struct flm_err *err) {
    struct flm_gguf_writer *w = NULL;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 32), FLM_OK);
    add_keys(w);
    void  *buf = NULL;
    size_t size = 0;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, &size), FLM_OK);
    flm_gguf_writer_free(w);
    struct flm_gguf *g = NULL;
    assert_int_equal(flm_gguf_open_buffer(&g, buf, size, err), FLM_OK);
    *v = NULL;
    flm_status st = flm_vocab_load(v, g, err);
    flm_gguf_close(g);  // the vocabulary keeps copies of everything
    free(buf);
    return st;
}

static const char *ids(const struct flm_vocab *v, const char *text, bool add_special) {
    static char out[256];
    int32_t     tok[32], n = 0;
    assert_int_equal(flm_vocab_tokenize(v, text, strlen(text), add_special, false, tok, 32, &n, NULL), FLM_OK);
    size_t k = 0;
    out[0] = '\0';
    for (int32_t i = 0; i < n; i++) k += (size_t)snprintf(out + k, sizeof out - k, i ? " %d" : "%d", tok[i]);
    return out;
}

static const char *const spm_toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "\xe2\x96\x81\x61"};

static void spm_minimal(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", spm_toks, 6);
}

// Only the token list: SPM defaults are bos 1, eos 2, unk 0, BOS and space prefix on.
static void test_spm_defaults(void **state) {
    (void)state;
    struct flm_vocab *v;
    struct flm_err    err = {0};
    assert_int_equal(load(spm_minimal, &v, &err), FLM_OK);
    assert_int_equal(flm_vocab_bos(v), 1);
    assert_int_equal(flm_vocab_eos(v), 2);
    assert_true(flm_vocab_add_bos(v));
    assert_true(flm_vocab_is_eog(v, 2));
    // No scores: all 0, so the leftmost pair merges: "▁a" from " a" (space prefix).
    assert_string_equal(ids(v, "a", true), "1 5");
    assert_string_equal(ids(v, "a", false), "5");
    flm_vocab_free(v);
}

static void spm_options(struct flm_gguf_writer *w) {
    spm_minimal(w);
    flm_gguf_writer_kv_bool(w, "tokenizer.ggml.add_bos_token", false);
    flm_gguf_writer_kv_bool(w, "tokenizer.ggml.add_space_prefix", false);
    flm_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 99);  // out of range: default kept
    flm_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 0);
    int32_t scores[6] = {0, 0, 0, -1, -1, -5};                     // integer scores are accepted
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.scores", FLM_GGUF_INT32, scores, 6);
}

static void test_spm_options(void **state) {
    (void)state;
    struct flm_vocab *v;
    struct flm_err    err = {0};
    assert_int_equal(load(spm_options, &v, &err), FLM_OK);
    assert_int_equal(flm_vocab_bos(v), 1);
    assert_int_equal(flm_vocab_eos(v), 0);
    assert_false(flm_vocab_add_bos(v));
    assert_string_equal(ids(v, "a", true), "4");
    assert_string_equal(ids(v, " a", true), "5");
    flm_vocab_free(v);
}

static const char *const bpe_toks[] = {"a", "b", "ab", "\xc4\xa0", "<|eot_id|>"};
static const char *const bpe_merges[] = {"a b"};

static void bpe_llama3(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.pre", "llama-bpe");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", bpe_toks, 5);
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.merges", bpe_merges, 1);
    flm_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 3);
}

// llama3's pre-tokenizer turns BOS on unless the file says otherwise; the
// end-of-turn token is found by name.
static void test_bpe_llama3(void **state) {
    (void)state;
    struct flm_vocab *v;
    struct flm_err    err = {0};
    assert_int_equal(load(bpe_llama3, &v, &err), FLM_OK);
    assert_true(flm_vocab_add_bos(v));
    assert_string_equal(ids(v, "ab", true), "3 2");
    assert_int_equal(flm_vocab_eot(v), 4);
    assert_true(flm_vocab_is_eog(v, 4));
    assert_true(flm_vocab_is_control(v, 4));
    flm_vocab_free(v);
}

static void bpe_no_pre(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", bpe_toks, 5);
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.merges", bpe_merges, 1);
}

static void test_bpe_defaults(void **state) {
    (void)state;
    struct flm_vocab *v;
    struct flm_err    err = {0};
    assert_int_equal(load(bpe_no_pre, &v, &err), FLM_OK);  // no pre: "default"
    assert_false(flm_vocab_add_bos(v));
    assert_int_equal(flm_vocab_bos(v), -1);  // the default id 11 is beyond the vocabulary
    assert_string_equal(ids(v, "ab ab", true), "2 3 2");  // " ab": Ġ + ab, no "Ġ ab" merge
    flm_vocab_free(v);
}

static void bad_model(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "bert");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", bpe_toks, 5);
}
static void bad_pre(struct flm_gguf_writer *w) {
    bpe_no_pre(w);
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.pre", "no-such-pre");
}
static void no_merges(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", bpe_toks, 5);
}
static void short_types(struct flm_gguf_writer *w) {
    spm_minimal(w);
    int32_t types[3] = {2, 3, 3};
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", FLM_GGUF_INT32, types, 3);
}
static void wrong_type(struct flm_gguf_writer *w) {
    spm_minimal(w);
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.add_bos_token", "yes");
}
static void no_tokens(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
}
static void empty_tokens(struct flm_gguf_writer *w) {
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", spm_toks, 0);
}

static void test_errors(void **state) {
    (void)state;
    struct {
        add_keys_fn fn;
        flm_status  want;
        const char *in_msg;
    } cases[] = {
        {bad_model, FLM_ERR_UNSUPPORTED, "bert"},
        {bad_pre, FLM_ERR_UNSUPPORTED, "no-such-pre"},
        {no_merges, FLM_ERR_FORMAT, "tokenizer.ggml.merges"},
        {short_types, FLM_ERR_FORMAT, "token_type"},
        {wrong_type, FLM_ERR_FORMAT, "add_bos_token"},
        {no_tokens, FLM_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {empty_tokens, FLM_ERR_INVALID, "no tokens"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct flm_vocab *v = (struct flm_vocab *)1;
        struct flm_err    err = {0};
        assert_int_equal(load(cases[i].fn, &v, &err), cases[i].want);
        assert_null(v);
        if (!strstr(err.msg, cases[i].in_msg)) fail_msg("case %zu: message '%s'", i, err.msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_defaults), cmocka_unit_test(test_spm_options), cmocka_unit_test(test_bpe_llama3),
        cmocka_unit_test(test_bpe_defaults), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
