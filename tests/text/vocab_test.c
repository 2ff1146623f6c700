// vocab_test.c - the tokenizers on tiny hand-built vocabularies.
//
// Expected ids are worked out by hand from the algorithms: BPE merges in
// rank order, SPM merges by score (leftmost on ties), byte fallback, special
// tokens split longest first, and llama.cpp's by-name attribute rules.
#include "test_util.h"

#include "text/vocab.h"

#include <string.h>

#define MAX_TOK 64

struct tiny {
    const char *tok[MAX_TOK];
    size_t      len[MAX_TOK];
    float       score[MAX_TOK];
    int32_t     type[MAX_TOK];
    const char *merge[MAX_TOK];
    size_t      merge_len[MAX_TOK];
    int32_t     n, n_merges;
};

static int32_t add(struct tiny *t, const char *s, float score, int32_t type) {
    t->tok[t->n] = s, t->len[t->n] = strlen(s), t->score[t->n] = score, t->type[t->n] = type;
    return t->n++;
}

static void add_merge(struct tiny *t, const char *s) {
    t->merge[t->n_merges] = s, t->merge_len[t->n_merges] = strlen(s);
    t->n_merges++;
}

static struct flm_vocab *build(const struct tiny *t, enum flm_vocab_kind kind, const char *pre, bool add_bos,
                               bool space_prefix) {
    struct flm_vocab_spec s = {
        .kind = kind, .pre = pre, .n_tokens = t->n, .tokens = t->tok, .token_lens = t->len,
        .scores = t->score, .types = t->type, .n_merges = t->n_merges, .merges = t->merge,
        .merge_lens = t->merge_len, .bos = 0, .eos = 1, .eot = -1, .unk = 2, .pad = -1,
        .add_bos = add_bos, .add_space_prefix = space_prefix,
    };
    struct flm_vocab *v = NULL;
    struct flm_err    err = {0};
    if (flm_vocab_init(&v, &s, &err) != FLM_OK) fail_msg("init: %s", err.msg);
    return v;
}

// Tokenizes and returns the ids as "1 2 3".
static const char *ids(const struct flm_vocab *v, const char *text, bool add_special, bool parse_special) {
    static char out[512];
    int32_t     tok[64], n = 0;
    struct flm_err err = {0};
    assert_int_equal(flm_vocab_tokenize(v, text, strlen(text), add_special, parse_special, tok, 64, &n, &err), FLM_OK);
    size_t k = 0;
    out[0] = '\0';
    for (int32_t i = 0; i < n; i++) k += (size_t)snprintf(out + k, sizeof out - k, i ? " %d" : "%d", tok[i]);
    return out;
}

static const char *piece(const struct flm_vocab *v, int32_t tok, bool special) {
    static char buf[64];
    int32_t     n = flm_vocab_piece(v, tok, buf, (int32_t)sizeof buf - 1, special);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

// ---------------------------------------------------------------- byte-level BPE

// ids: 0 <s> 1 </s> 2 <unk> 3 a 4 b 5 c 6 Ġ 7 ab 8 bc 9 abc 10 <|x|> 11 <u> 12 < 13 | 14 x 15 >
//      16 Ġa 17 d 18 a→ (→ is no GPT-2 byte)
static void bpe_tokens(struct tiny *t) {
    add(t, "<s>", 0, FLM_TOKEN_CONTROL);
    add(t, "</s>", 0, FLM_TOKEN_CONTROL);
    add(t, "<unk>", 0, FLM_TOKEN_UNKNOWN);
    const char *normal[] = {"a", "b", "c", "\xc4\xa0", "ab", "bc", "abc"};
    for (size_t i = 0; i < 7; i++) add(t, normal[i], 0, FLM_TOKEN_NORMAL);
    add(t, "<|x|>", 0, FLM_TOKEN_CONTROL);
    add(t, "<u>", 0, FLM_TOKEN_USER_DEFINED);
    const char *more[] = {"<", "|", "x", ">", "\xc4\xa0\x61", "d", "a\xe2\x86\x92"};
    for (size_t i = 0; i < 7; i++) add(t, more[i], 0, FLM_TOKEN_NORMAL);
}

static void test_bpe_merge_order(void **state) {
    (void)state;
    struct tiny t = {0};
    bpe_tokens(&t);
    add_merge(&t, "b c");  // rank 0
    add_merge(&t, "a b");  // rank 1
    add_merge(&t, "a bc");
    add_merge(&t, "\xc4\xa0 a");
    struct flm_vocab *v = build(&t, FLM_VOCAB_BPE, "gpt-2", false, false);
    assert_string_equal(ids(v, "abc", false, false), "9");    // b+c first, then a+bc
    assert_string_equal(ids(v, "ab", false, false), "7");
    assert_string_equal(ids(v, "ba", false, false), "4 3");
    // " abc": b+c (rank 0), then a+bc (2); Ġ+a (3) is outdated by then.
    assert_string_equal(ids(v, "a abc", false, false), "3 6 9");
    flm_vocab_free(v);

    // With a b ranked first, "abc" becomes ab + c and stops: no "ab c" merge.
    struct tiny u = {0};
    bpe_tokens(&u);
    add_merge(&u, "a b");
    add_merge(&u, "b c");
    add_merge(&u, "a bc");
    v = build(&u, FLM_VOCAB_BPE, "gpt-2", false, false);
    assert_string_equal(ids(v, "abc", false, false), "7 5");
    flm_vocab_free(v);
}

static void test_bpe_words_and_bytes(void **state) {
    (void)state;
    struct tiny t = {0};
    bpe_tokens(&t);
    add_merge(&t, "b c");
    add_merge(&t, "a b");
    add_merge(&t, "a bc");
    add_merge(&t, "\xc4\xa0 a");
    struct flm_vocab *v = build(&t, FLM_VOCAB_BPE, "gpt-2", true, false);
    assert_string_equal(ids(v, "abc abc", false, false), "9 6 9");
    assert_string_equal(ids(v, " a", false, false), "16");
    // 'e' and 'é' have no tokens and no single-byte tokens: dropped, as llama.cpp does.
    assert_string_equal(ids(v, "aeb\xc3\xa9", false, false), "3 4");
    assert_string_equal(ids(v, "ab", true, false), "0 7");  // BOS
    assert_string_equal(ids(v, "", true, false), "0");
    assert_string_equal(ids(v, "", false, false), "");
    // Pieces: Ġ is a space; control tokens only with special.
    assert_string_equal(piece(v, 16, false), " a");
    assert_string_equal(piece(v, 0, false), "");
    assert_string_equal(piece(v, 0, true), "<s>");
    assert_string_equal(piece(v, 11, false), "<u>");
    assert_int_equal(flm_vocab_piece(v, 99, NULL, 0, true), 0);
    // A code point outside the byte mapping renders as llama.cpp writes it.
    assert_string_equal(piece(v, 18, false), "a[UNK_BYTE_0xe28692a\xe2\x86\x92]");
    char small[1];
    assert_int_equal(flm_vocab_piece(v, 9, small, 1, false), -3);  // "abc" needs 3 bytes
    flm_vocab_free(v);
}

static void test_bpe_special_split(void **state) {
    (void)state;
    struct tiny t = {0};
    bpe_tokens(&t);
    add_merge(&t, "a b");
    struct flm_vocab *v = build(&t, FLM_VOCAB_BPE, "gpt-2", false, false);
    assert_string_equal(ids(v, "ab<|x|>c", false, true), "7 10 5");
    // Without parse_special the control token is text: < | x | > tokens.
    assert_string_equal(ids(v, "ab<|x|>c", false, false), "7 12 13 14 13 15 5");
    // USER_DEFINED tokens are split out either way.
    assert_string_equal(ids(v, "a<u>b<u>", false, false), "3 11 4 11");
    assert_string_equal(ids(v, "<|x|><|x|>", false, true), "10 10");
    flm_vocab_free(v);
}

// llama.cpp applies special tokens longest first, over the whole text, not
// leftmost first: "a><b" (4 bytes) wins over "<a>" (3) in "<a><b>".
static void test_special_longest_first(void **state) {
    (void)state;
    struct tiny t = {0};
    add(&t, "<s>", 0, FLM_TOKEN_CONTROL);
    add(&t, "</s>", 0, FLM_TOKEN_CONTROL);
    add(&t, "<unk>", 0, FLM_TOKEN_UNKNOWN);
    add(&t, "<a>", 0, FLM_TOKEN_CONTROL);   // 3
    add(&t, "a><b", 0, FLM_TOKEN_CONTROL);  // 4
    add(&t, "<", 0, FLM_TOKEN_NORMAL);      // 5
    add(&t, ">", 0, FLM_TOKEN_NORMAL);      // 6
    add(&t, "b", 0, FLM_TOKEN_NORMAL);      // 7
    struct flm_vocab *v = build(&t, FLM_VOCAB_BPE, "gpt-2", false, false);
    assert_string_equal(ids(v, "<a><b>", false, true), "5 4 6");
    assert_string_equal(ids(v, "<a>b<a>", false, true), "3 7 3");
    flm_vocab_free(v);
}

// ---------------------------------------------------------------- SentencePiece

// ids: 0 <bos> 1 <eos> 2 <unk> 3 ▁ 4 a 5 b 6 c 7 ab 8 bc 9 ▁a 10 <0x78> 11 <start> 12 ba 13 <0xC3> 14 <0xA9>
static void spm_tokens(struct tiny *t, float ab, float bc) {
    add(t, "<bos>", 0, FLM_TOKEN_CONTROL);
    add(t, "<eos>", 0, FLM_TOKEN_CONTROL);
    add(t, "<unk>", 0, FLM_TOKEN_UNKNOWN);
    add(t, "\xe2\x96\x81", -1, FLM_TOKEN_NORMAL);
    add(t, "a", -2, FLM_TOKEN_NORMAL);
    add(t, "b", -2, FLM_TOKEN_NORMAL);
    add(t, "c", -2, FLM_TOKEN_NORMAL);
    add(t, "ab", ab, FLM_TOKEN_NORMAL);
    add(t, "bc", bc, FLM_TOKEN_NORMAL);
    add(t, "\xe2\x96\x81" "a", -0.5f, FLM_TOKEN_NORMAL);
    add(t, "<0x78>", 0, FLM_TOKEN_BYTE);
    add(t, "<start>", 0, FLM_TOKEN_CONTROL);
    add(t, "ba", ab, FLM_TOKEN_NORMAL);
    add(t, "<0xC3>", 0, FLM_TOKEN_BYTE);
    add(t, "<0xA9>", 0, FLM_TOKEN_BYTE);
}

static void test_spm_scores(void **state) {
    (void)state;
    struct tiny t = {0};
    spm_tokens(&t, -3, -1);  // bc scores higher than ab
    struct flm_vocab *v = build(&t, FLM_VOCAB_SPM, NULL, true, false);
    assert_string_equal(ids(v, "abc", false, false), "4 8");
    assert_string_equal(ids(v, "abc", true, false), "0 4 8");
    flm_vocab_free(v);

    struct tiny u = {0};
    spm_tokens(&u, -1, -3);  // ab higher
    v = build(&u, FLM_VOCAB_SPM, NULL, false, false);
    assert_string_equal(ids(v, "abc", false, false), "7 6");
    // Equal scores (ab, ba): the leftmost pair merges first.
    assert_string_equal(ids(v, "aba", false, false), "7 4");
    assert_string_equal(ids(v, "bab", false, false), "12 5");
    flm_vocab_free(v);
}

static void test_spm_spaces_bytes_unknown(void **state) {
    (void)state;
    struct tiny t = {0};
    spm_tokens(&t, -1, -3);
    struct flm_vocab *v = build(&t, FLM_VOCAB_SPM, NULL, false, false);
    assert_string_equal(ids(v, "a a", false, false), "4 9");           // "a▁a": ▁a merges
    assert_string_equal(ids(v, "x", false, false), "10");              // byte fallback <0x78>
    assert_string_equal(ids(v, "\xc3\xa9", false, false), "13 14");    // é -> <0xC3> <0xA9>
    assert_string_equal(ids(v, "y", false, false), "2");               // no <0x79>: unknown
    assert_string_equal(ids(v, "a<start>a", false, true), "4 11 4");
    assert_string_equal(ids(v, "", true, false), "");                 // add_bos is off here
    assert_string_equal(piece(v, 9, false), " a");
    assert_string_equal(piece(v, 10, false), "x");
    assert_string_equal(piece(v, 11, false), "");
    assert_string_equal(piece(v, 11, true), "<start>");
    flm_vocab_free(v);

    // add_space_prefix: a space before text at the start and after special tokens.
    struct tiny u = {0};
    spm_tokens(&u, -1, -3);
    v = build(&u, FLM_VOCAB_SPM, NULL, true, true);
    assert_string_equal(ids(v, "a", true, false), "0 9");
    assert_string_equal(ids(v, "a<start>a", false, true), "9 11 9");
    flm_vocab_free(v);
}

// ---------------------------------------------------------------- attributes

static void test_name_rules(void **state) {
    (void)state;
    struct tiny t = {0};
    add(&t, "<s>", 0, FLM_TOKEN_CONTROL);
    add(&t, "</s>", 0, FLM_TOKEN_CONTROL);
    add(&t, "<unk>", 0, FLM_TOKEN_UNKNOWN);
    add(&t, "<|im_end|>", 0, FLM_TOKEN_NORMAL);      // 3: typed normal, made control + EOG
    add(&t, "<|endoftext|>", 0, FLM_TOKEN_CONTROL);  // 4
    add(&t, "<unused7>", 0, FLM_TOKEN_CONTROL);      // 5
    add(&t, "<fim_pad>", 0, FLM_TOKEN_NORMAL);       // 6: FIM pad ends generation
    add(&t, "hello", 0, FLM_TOKEN_NORMAL);           // 7
    add(&t, "", 0, FLM_TOKEN_NORMAL);                // 8: empty text is renamed
    struct flm_vocab *v = build(&t, FLM_VOCAB_BPE, "gpt-2", false, false);
    assert_int_equal(flm_vocab_eot(v), 3);  // the lowest id among the end-of-turn names
    assert_true(flm_vocab_is_eog(v, 1));    // eos
    assert_true(flm_vocab_is_eog(v, 3));
    assert_true(flm_vocab_is_eog(v, 4));
    assert_true(flm_vocab_is_eog(v, 6));
    assert_false(flm_vocab_is_eog(v, 7));
    assert_true(flm_vocab_is_control(v, 3));
    assert_int_equal(flm_vocab_attr(v, 3), 4 | 8);  // normal + control, as llama.cpp ORs it in
    assert_int_equal(flm_vocab_attr(v, 5), 8 | 2);  // control + unused
    assert_int_equal(flm_vocab_find(v, "hello", 5), 7);
    assert_int_equal(flm_vocab_find(v, "[EMPTY_8]", 9), 8);
    assert_int_equal(flm_vocab_find(v, "nope", 4), -1);
    size_t      len;
    const char *s = flm_vocab_text(v, 4, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(s, "<|endoftext|>", 13);
    assert_null(flm_vocab_text(v, 9, &len));
    assert_int_equal(flm_vocab_n_tokens(v), 9);
    assert_int_equal(flm_vocab_bos(v), 0);
    assert_int_equal(flm_vocab_eos(v), 1);
    assert_false(flm_vocab_add_bos(v));
    flm_vocab_free(v);
}

static void test_bad_specs(void **state) {
    (void)state;
    struct tiny t = {0};
    add(&t, "a", 0, FLM_TOKEN_NORMAL);
    struct flm_vocab_spec s = {.kind = FLM_VOCAB_BPE, .pre = "no-such-pre", .n_tokens = 1, .tokens = t.tok,
                               .token_lens = t.len, .bos = -1, .eos = -1, .eot = -1, .unk = -1, .pad = -1};
    struct flm_vocab *v = NULL;
    struct flm_err    err = {0};
    assert_int_equal(flm_vocab_init(&v, &s, &err), FLM_ERR_UNSUPPORTED);
    assert_null(v);
    assert_non_null(strstr(err.msg, "no-such-pre"));
    s.pre = "gpt-2";
    s.kind = (enum flm_vocab_kind)7;
    assert_int_equal(flm_vocab_init(&v, &s, &err), FLM_ERR_UNSUPPORTED);
    s.kind = FLM_VOCAB_BPE;
    s.n_tokens = 0;
    assert_int_equal(flm_vocab_init(&v, &s, &err), FLM_ERR_INVALID);
    s.n_tokens = 1;
    s.bos = 5;  // out of range: treated as absent
    s.add_bos = true;
    assert_int_equal(flm_vocab_init(&v, &s, &err), FLM_OK);
    assert_int_equal(flm_vocab_bos(v), -1);
    assert_false(flm_vocab_add_bos(v));
    int32_t out[4], n = 0;
    assert_int_equal(flm_vocab_tokenize(v, NULL, 3, false, false, out, 4, &n, &err), FLM_ERR_INVALID);
    assert_int_equal(flm_vocab_tokenize(v, "aa", 2, false, false, out, -1, &n, &err), FLM_ERR_INVALID);
    flm_vocab_free(v);
    flm_vocab_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_merge_order),     cmocka_unit_test(test_bpe_words_and_bytes),
        cmocka_unit_test(test_bpe_special_split),   cmocka_unit_test(test_special_longest_first),
        cmocka_unit_test(test_spm_scores),          cmocka_unit_test(test_spm_spaces_bytes_unknown),
        cmocka_unit_test(test_name_rules),          cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
