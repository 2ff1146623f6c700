// cli_spec_test.c - `flashlm run/chat --spec ...`: the same greedy text as
// without speculation (llama.cpp's), statistics on stderr, and bad options or
// a draft model of another vocabulary refused with a message.
#include "test_util.h"

#include "e2e/cli_util.h"

#include <string.h>

#define SMOL "SmolLM2-135M-Instruct.Q4_1.gguf"
#define GEMMA "gemma-3-270m-q4_k_m.gguf"

static const char *model_or_skip(const char *file) {
    const char *p = flm_test_model(file);
    if (!p) skip();
    return p;
}

static void test_run_spec_same_text(void **state) {
    const char *modes[] = {"--spec lookup", "--spec self --spec-layers 0-9 --draft-max 3",
                           "--spec draft --draft MODEL --no-adapt"};
    const char *m = model_or_skip(SMOL);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char mode[600], args[1400];
        snprintf(mode, sizeof mode, "%s", modes[i]);
        char *at = strstr(mode, "MODEL");
        if (at) snprintf(at, sizeof mode - (size_t)(at - mode), "%s --no-adapt", m);
        snprintf(args, sizeof args,
                 "run -m %s --temp 0 -n 16 %s -p '<|im_start|>user\nWhat is the capital of France, and which river "
                 "flows through it?<|im_end|>\n<|im_start|>assistant\n'",
                 m, mode);
        char *out, *msg;
        int rc = run_cli_io(args, NULL, &out, &msg);
        if (rc != 0) fail_msg("flashlm %s: exit %d: %.600s", args, rc, msg);
        assert_string_equal(out, "The capital of France is Paris.");  // llama.cpp's greedy text
        assert_non_null(strstr(msg, "speculation:"));
        free(out), free(msg);
    }
}

static void test_chat_spec_two_turns(void **state) {
    char in[320], args[600];
    snprintf(in, sizeof in, "%s/chat_in.txt", tmpdir);
    FILE *f = fopen(in, "w");
    fputs("What is the capital of France?\nAnd of Italy?\n", f);
    fclose(f);
    snprintf(args, sizeof args, "chat -m %s --temp 0 -n 24 --spec lookup --no-adapt", model_or_skip(SMOL));
    char *out, *msg;
    int rc = run_cli_io(args, in, &out, &msg);
    if (rc != 0) fail_msg("flashlm %s: exit %d: %.600s", args, rc, msg);
    // the replies of cli_run_test's plain chat (llama.cpp's)
    assert_string_equal(out, "L'\xc3\x89toile, la Cit\xc3\xa9, la Nation, la G\xc3\xa9ologie, la Culture, la Tradition,\n"
                             "L'Ion, la Roma, la Culture, la Tradition, la G\xc3\xa9ologie, la G\xc3\xa9ologie,\n");
    free(out), free(msg);
}

static void expect_fail(const char *args, int code, const char *text) {
    char *msg;
    int rc = run_cli(args, &msg);
    if (rc != code || !strstr(msg, text)) fail_msg("flashlm %s: exit %d, message: %.400s", args, rc, msg);
    free(msg);
}

static void test_bad_spec_options(void **state) {
    char m[400], g[400], a[1200];
    snprintf(m, sizeof m, "%s", model_or_skip(SMOL));  // flm_test_model's buffer is reused
    snprintf(g, sizeof g, "%s", model_or_skip(GEMMA));
    snprintf(a, sizeof a, "run -m %s -p hi --spec draft", m);
    expect_fail(a, 2, "--spec draft needs --draft FILE");
    snprintf(a, sizeof a, "run -m %s -p hi --spec maybe", m);
    expect_fail(a, 2, "invalid value 'maybe' for --spec");
    snprintf(a, sizeof a, "run -m %s -p hi --spec lookup --draft-max 0", m);
    expect_fail(a, 2, "invalid value '0' for --draft-max");
    snprintf(a, sizeof a, "run -m %s -p hi --spec lookup --ngram 4-2", m);
    expect_fail(a, 2, "invalid value '4-2' for --ngram");
    snprintf(a, sizeof a, "run -m %s -p hi --spec self --spec-layers 0-40", m);
    expect_fail(a, 1, "range 0-40 outside 0..29");
    snprintf(a, sizeof a, "run -m %s -p hi --spec draft --draft %s", m, g);
    expect_fail(a, 1, "vocabulary size 262144 differs from the target's 49152");
    snprintf(a, sizeof a, "run -m %s -p hi --spec draft --draft /nonexistent.gguf", m);
    expect_fail(a, 1, "/nonexistent.gguf");
    expect_fail("run --help", 0, "");
    char *out, *msg;
    assert_int_equal(run_cli_io("run --help", NULL, &out, &msg), 0);
    assert_non_null(strstr(out, "--spec MODE"));
    assert_non_null(strstr(out, "--draft-max N"));
    free(out), free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_spec_same_text),
        cmocka_unit_test(test_chat_spec_two_turns),
        cmocka_unit_test(test_bad_spec_options),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
