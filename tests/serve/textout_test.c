// textout_test.c - stop sequences and UTF-8 hold-back of streamed text, and
// the sanitizer that keeps JSON strings valid.
#include "test_util.h"

#include "serve/textout.h"

#include <stdlib.h>
#include <string.h>

// Pushes pieces, collecting what comes out; returns the whole output.
static char *run(const char *const *stop, int n_stop, const char *const *pieces, int n, bool *stopped) {
    struct flm_textout t;
    flm_textout_init(&t, stop, n_stop);
    char *out = calloc(1, 1024);
    size_t len = 0;
    for (int i = 0; i < n && !t.stopped; i++) {
        bool ok;
        size_t ready = flm_textout_push(&t, pieces[i], strlen(pieces[i]), &ok);
        assert_true(ok);
        memcpy(out + len, t.buf, ready);
        len += ready;
        flm_textout_consume(&t, ready);
    }
    *stopped = t.stopped;
    size_t rest = flm_textout_finish(&t);
    memcpy(out + len, t.buf, rest);
    flm_textout_free(&t);
    return out;
}

static void test_no_stop(void **state) {
    (void)state;
    const char *p[] = {"Hel", "lo", " wor", "ld"};
    bool stopped;
    char *o = run(NULL, 0, p, 4, &stopped);
    assert_string_equal(o, "Hello world");
    assert_false(stopped);
    free(o);
}

static void test_stop_across_pieces(void **state) {
    (void)state;
    const char *stop[] = {"\nUser:", "END"};
    const char *p[] = {"answer", "\nUs", "er", ": more"};
    bool stopped;
    char *o = run(stop, 2, p, 4, &stopped);
    assert_string_equal(o, "answer");
    assert_true(stopped);
    free(o);
    const char *q[] = {"xE", "N", "Dy"};  // the earliest stop wins, inside one piece
    o = run(stop, 2, q, 3, &stopped);
    assert_string_equal(o, "x");
    assert_true(stopped);
    free(o);
}

// A held-back prefix of a stop sequence that never completes is text after all.
static void test_prefix_released(void **state) {
    (void)state;
    const char *stop[] = {"STOP"};
    struct flm_textout t;
    flm_textout_init(&t, stop, 1);
    bool ok;
    assert_int_equal(flm_textout_push(&t, "abST", 4, &ok), 2);  // "ST" may start STOP
    assert_int_equal(flm_textout_push(&t, "O", 1, &ok), 2);
    assert_int_equal(flm_textout_push(&t, "p", 1, &ok), 6);     // "STOp" is not it
    assert_false(t.stopped);
    flm_textout_consume(&t, 6);
    assert_int_equal(flm_textout_push(&t, "ST", 2, &ok), 0);
    assert_int_equal(flm_textout_finish(&t), 2);                 // end of generation: release
    flm_textout_free(&t);
}

// UTF-8 characters split over pieces are held until complete.
static void test_utf8_hold(void **state) {
    (void)state;
    struct flm_textout t;
    flm_textout_init(&t, NULL, 0);
    bool ok;
    assert_int_equal(flm_textout_push(&t, "a\xe4", 2, &ok), 1);
    flm_textout_consume(&t, 1);
    assert_int_equal(flm_textout_push(&t, "\xbd", 1, &ok), 0);
    assert_int_equal(flm_textout_push(&t, "\xa0\xf0\x9f", 3, &ok), 3);
    flm_textout_consume(&t, 3);
    assert_int_equal(flm_textout_push(&t, "\x98\x80", 2, &ok), 4);
    assert_memory_equal(t.buf, "\xf0\x9f\x98\x80", 4);
    flm_textout_free(&t);
}

static void test_sanitize(void **state) {
    (void)state;
    char *d = NULL;
    size_t len = 0, cap = 0;
    assert_true(flm_textout_sanitize(&d, &len, &cap, "ok \xc3\xa9", 5));
    assert_string_equal(d, "ok \xc3\xa9");
    assert_true(flm_textout_sanitize(&d, &len, &cap, "\xff" "a\xc3" "b\xed\xa0\x80", 7));  // bad, cut, surrogate
    assert_string_equal(d, "ok \xc3\xa9\xef\xbf\xbd" "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_stop),       cmocka_unit_test(test_stop_across_pieces),
        cmocka_unit_test(test_prefix_released), cmocka_unit_test(test_utf8_hold),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
