// pretok_test.c - pre-tokenizer word boundaries worked out by hand from the regexes.
#include "test_util.h"

#include "text/pretok.h"
#include "text/unicode.h"

#include <string.h>

// Splits UTF-8 text and returns the words joined with '|'.
static const char *split(enum flm_pretok kind, const char *text) {
    static char out[1024];
    uint32_t    cps[256], lens[256], tmp[256];
    size_t      n = 0, len = strlen(text);
    for (size_t pos = 0; pos < len;) cps[n++] = flm_unicode_decode(text, len, &pos);
    size_t n_words = flm_pretok_split(kind, cps, n, lens, tmp);
    size_t k = 0, start = 0;
    for (size_t w = 0; w < n_words; w++) {
        if (w) out[k++] = '|';
        for (size_t i = start; i < start + lens[w]; i++) k += (size_t)flm_unicode_encode(cps[i], out + k);
        start += lens[w];
    }
    assert_int_equal(start, n);  // the words cover the text
    out[k] = '\0';
    return out;
}

static void test_gpt2(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_GPT2, "Hello world"), "Hello| world");
    assert_string_equal(split(FLM_PRETOK_GPT2, "don't we've"), "don|'t| we|'ve");
    assert_string_equal(split(FLM_PRETOK_GPT2, "I'LL"), "I|'|LL");  // contractions are case-sensitive
    assert_string_equal(split(FLM_PRETOK_GPT2, "a  b"), "a| | b");  // \s+(?!\S) leaves one space
    assert_string_equal(split(FLM_PRETOK_GPT2, "a   "), "a|   ");   // ... except at the end
    assert_string_equal(split(FLM_PRETOK_GPT2, "x\n\ny"), "x|\n|\n|y");
    assert_string_equal(split(FLM_PRETOK_GPT2, "12345 42a"), "12345| 42|a");
    assert_string_equal(split(FLM_PRETOK_GPT2, "!!! ?x"), "!!!| ?|x");
    assert_string_equal(split(FLM_PRETOK_GPT2, "caf\xc3\xa9 \xce\xb1\xce\xb2"), "caf\xc3\xa9| \xce\xb1\xce\xb2");
    assert_string_equal(split(FLM_PRETOK_GPT2, "e\xcc\x81"), "e|\xcc\x81");  // a combining mark is not \p{L}
    assert_string_equal(split(FLM_PRETOK_GPT2, ""), "");
}

static void test_smollm(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_SMOLLM, "a 123"), "a| |1|2|3");
    assert_string_equal(split(FLM_PRETOK_SMOLLM, "x\xd9\xa1\xd9\xa2y"), "x|\xd9\xa1|\xd9\xa2|y");  // Arabic-Indic digits
    assert_string_equal(split(FLM_PRETOK_SMOLLM, "v2.0"), "v|2|.|0");
}

static void test_llama3(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "12345"), "123|45");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "I'LL"), "I|'LL");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "(hello"), "(hello");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "a\n\n b"), "a|\n\n| b");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "x  \n"), "x|  \n");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "hi!!\n\nyo"), "hi|!!\n\n|yo");
    assert_string_equal(split(FLM_PRETOK_LLAMA3, "a   b"), "a|  | b");
}

static void test_qwen2(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_QWEN2, "12345"), "1|2|3|4|5");
    assert_string_equal(split(FLM_PRETOK_QWEN2, "I'll go"), "I|'ll| go");
}

static void test_default(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_DEFAULT, "a+b=12345!"), "a|+|b|=|123|45|!");
    assert_string_equal(split(FLM_PRETOK_DEFAULT, "hello, world"), "hello|,| world");
    assert_string_equal(split(FLM_PRETOK_DEFAULT, "x`y"), "x|`|y");  // ` is a symbol, not in the first class
    assert_string_equal(split(FLM_PRETOK_DEFAULT, "ab1234567c"), "ab|123|456|7|c");
}

// Invalid bytes decode to U+FFFD (a symbol), one per byte, like llama.cpp.
static void test_invalid_utf8(void **state) {
    (void)state;
    assert_string_equal(split(FLM_PRETOK_GPT2, "a\x80\x81 b"), "a|\xef\xbf\xbd\xef\xbf\xbd| b");
    size_t   pos = 0;
    uint32_t cp = flm_unicode_decode("\xc0\x80", 2, &pos);  // overlong: decoded, not rejected
    assert_int_equal(cp, 0);
    assert_int_equal(pos, 2);
    pos = 0;
    assert_int_equal(flm_unicode_decode("\xe2\x82", 2, &pos), 0xFFFD);  // truncated
    assert_int_equal(pos, 1);
    pos = 0;
    assert_int_equal(flm_unicode_decode("\xf7\xbf\xbf\xbf", 4, &pos), 0x1FFFFF);
    char out[4];
    assert_int_equal(flm_unicode_encode(0x1FFFFF, out), 3);  // written as U+FFFD
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
}

static void test_unicode_flags(void **state) {
    (void)state;
    assert_int_equal(flm_unicode_flags('a'), FLM_UNICODE_LETTER);
    assert_int_equal(flm_unicode_flags('7'), FLM_UNICODE_NUMBER);
    assert_int_equal(flm_unicode_flags(' '), FLM_UNICODE_SEPARATOR | FLM_UNICODE_WHITESPACE);
    assert_int_equal(flm_unicode_flags('\n'), FLM_UNICODE_CONTROL | FLM_UNICODE_WHITESPACE);
    assert_int_equal(flm_unicode_flags(0x3000), FLM_UNICODE_SEPARATOR | FLM_UNICODE_WHITESPACE);
    assert_int_equal(flm_unicode_flags(0x0301), FLM_UNICODE_MARK);
    assert_int_equal(flm_unicode_flags(0x1F600), FLM_UNICODE_SYMBOL);
    assert_int_equal(flm_unicode_flags(0x1FAE8), FLM_UNICODE_SYMBOL);      // Unicode 15.0
    assert_int_equal(flm_unicode_flags(0x2EBF0), FLM_UNICODE_LETTER);      // Unicode 15.1
    assert_int_equal(flm_unicode_flags(0x0378), FLM_UNICODE_UNDEFINED);    // unassigned
    assert_int_equal(flm_unicode_flags(0xE000), FLM_UNICODE_CONTROL);      // private use
    assert_int_equal(flm_unicode_flags(0x110000), FLM_UNICODE_UNDEFINED);
    assert_int_equal(flm_unicode_flags(0x10FFFD), FLM_UNICODE_CONTROL);    // plane 16 private use
    assert_int_equal(flm_unicode_flags(0x10FFFF), FLM_UNICODE_UNDEFINED);  // noncharacter
}

static void test_names(void **state) {
    (void)state;
    struct flm_pretok_info info;
    assert_true(flm_pretok_lookup("smollm", &info));
    assert_int_equal(info.kind, FLM_PRETOK_SMOLLM);
    assert_false(info.ignore_merges);
    assert_true(flm_pretok_lookup("llama-bpe", &info));
    assert_int_equal(info.kind, FLM_PRETOK_LLAMA3);
    assert_true(info.ignore_merges && info.add_bos);
    assert_true(flm_pretok_lookup(NULL, &info));
    assert_int_equal(info.kind, FLM_PRETOK_DEFAULT);
    assert_false(flm_pretok_lookup("no-such-pre", &info));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),    cmocka_unit_test(test_smollm),       cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_qwen2),   cmocka_unit_test(test_default),      cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_unicode_flags), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
