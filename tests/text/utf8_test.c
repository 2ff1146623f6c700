// utf8_test.c - the streaming hold-back helper and the validator.
#include "test_util.h"

#include "text/utf8.h"

#include <string.h>

static size_t tail(const char *s) {
    return flm_utf8_incomplete_tail(s, strlen(s));
}

static void test_incomplete_tail(void **state) {
    (void)state;
    assert_int_equal(flm_utf8_incomplete_tail(NULL, 0), 0);
    assert_int_equal(tail("abc"), 0);
    assert_int_equal(tail("caf\xc3\xa9"), 0);          // complete 2-byte
    assert_int_equal(tail("caf\xc3"), 1);              // 2-byte lead alone
    assert_int_equal(tail("x\xe4\xbd"), 2);            // 3-byte, one continuation missing
    assert_int_equal(tail("x\xe4"), 1);
    assert_int_equal(tail("x\xe4\xbd\xa0"), 0);        // complete
    assert_int_equal(tail("\xf0\x9f\x98"), 3);         // 4-byte, one missing
    assert_int_equal(tail("\xf0\x9f"), 2);
    assert_int_equal(tail("\xf0"), 1);
    assert_int_equal(tail("\xf0\x9f\x98\x80"), 0);     // complete emoji
    assert_int_equal(tail("a\x80"), 0);                // stray continuation: never completes
    assert_int_equal(tail("\x80\x80\x80\x80"), 0);
    assert_int_equal(tail("\xc3\xa9\xa9"), 0);         // lead already over-filled
    assert_int_equal(tail("ab\xff"), 0);               // never valid
    assert_int_equal(tail("ab\xf8\x80"), 0);
    // Only the end matters: an earlier broken byte does not hide a partial tail.
    assert_int_equal(tail("\x80z\xe2\x82"), 2);
}

// Feeding a text through the hold-back in pieces of every size reassembles it
// and each emitted chunk ends on a character boundary.
static void test_streaming(void **state) {
    (void)state;
    const char *text = "a\xc3\xa9\xe4\xbd\xa0\xf0\x9f\x98\x80z\xe2\x82\xac";
    size_t      len = strlen(text);
    for (size_t step = 1; step <= 4; step++) {
        char   held[8], out[64];
        size_t n_held = 0, n_out = 0;
        for (size_t i = 0; i < len; i += step) {
            size_t n = i + step <= len ? step : len - i;
            char   buf[16];
            memcpy(buf, held, n_held);
            memcpy(buf + n_held, text + i, n);
            size_t total = n_held + n, keep = flm_utf8_incomplete_tail(buf, total);
            assert_true(flm_utf8_valid(buf, total - keep));
            memcpy(out + n_out, buf, total - keep);
            n_out += total - keep;
            memcpy(held, buf + total - keep, keep);
            n_held = keep;
        }
        assert_int_equal(n_held, 0);
        assert_int_equal(n_out, len);
        assert_memory_equal(out, text, len);
    }
}

static void test_valid(void **state) {
    (void)state;
    assert_true(flm_utf8_valid("", 0));
    assert_true(flm_utf8_valid("plain", 5));
    assert_true(flm_utf8_valid("\xc3\xa9\xe4\xbd\xa0\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13));
    assert_false(flm_utf8_valid("\xc0\x80", 2));          // overlong NUL
    assert_false(flm_utf8_valid("\xe0\x80\x80", 3));      // overlong 3-byte
    assert_false(flm_utf8_valid("\xed\xa0\x80", 3));      // surrogate
    assert_false(flm_utf8_valid("\xf4\x90\x80\x80", 4));  // above U+10FFFF
    assert_false(flm_utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(flm_utf8_valid("\xe4\xbd", 2));          // truncated
    assert_false(flm_utf8_valid("\x80", 1));
    assert_false(flm_utf8_valid("a\xc3" "b", 3));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incomplete_tail),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
