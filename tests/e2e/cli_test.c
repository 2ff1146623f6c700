// cli_test.c - the flashlm tool on bad input: every malformed GGUF of the
// corpus (tests/format/gguf_corpus.h), a missing file, a directory, an empty
// file, a prompt longer than the context and bad usage each give a message
// on stderr and a plain non-zero exit: no crash, no hang, no sanitizer report.
#include "test_util.h"

#include "e2e/cli_util.h"
#include "format/gguf_corpus.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void expect_failure(const char *args, const char *needle) {
    char *msg;
    int rc = run_cli(args, &msg);
    if (rc != 1 || !strstr(msg, "flashlm") || (needle && !strstr(msg, needle)) || strstr(msg, "Sanitizer") ||
        strstr(msg, "runtime error"))
        fail_msg("flashlm %s: exit %d (want 1), stderr: %.600s (want '%s')", args, rc, msg, needle ? needle : "");
    free(msg);
}

static void test_corrupt_corpus(void **state) {
    struct gguf_corpus c;
    assert_int_equal(gguf_corpus_build(&c), FLM_OK);
    assert_false(c.failed);
    assert_true(c.n >= 25);
    assert_int_equal(gguf_corpus_write_dir(&c, tmpdir), 0);
    char args[1024];
    for (size_t i = 0; i < c.n; i++) {
        snprintf(args, sizeof args, "run -m %s/%s.gguf -p hello -n 2", tmpdir, c.cases[i].name);
        expect_failure(args, c.cases[i].model_level ? NULL : c.cases[i].expect);
        snprintf(args, sizeof args, "inspect %s/%s.gguf", tmpdir, c.cases[i].name);
        expect_failure(args, NULL);
    }
    // and the valid tiny model runs
    char *msg;
    snprintf(args, sizeof args, "run -m %s/valid.gguf -p hello -n 2 --temp 0", tmpdir);
    int rc = run_cli(args, &msg);
    if (rc != 0) fail_msg("valid tiny model: exit %d: %s", rc, msg);
    free(msg);
    print_message("%zu corrupt files refused by run and inspect\n", c.n);
    gguf_corpus_free(&c);
}

static void test_not_a_model(void **state) {
    char args[600], path[300];
    expect_failure("run -m /nonexistent/model.gguf -p hi", "/nonexistent/model.gguf");
    snprintf(args, sizeof args, "run -m %s -p hi", tmpdir);  // a directory
    expect_failure(args, tmpdir);
    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    FILE *f = fopen(path, "w");
    fclose(f);
    snprintf(args, sizeof args, "run -m %s -p hi", path);
    expect_failure(args, "empty.gguf");
    snprintf(args, sizeof args, "perplexity -m %s -f /nonexistent.txt", path);
    expect_failure(args, NULL);
}

static void test_prompt_longer_than_context(void **state) {
    const char *model = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!model) skip();
    char args[2048];
    snprintf(args, sizeof args, "run -m %s -c 16 -n 4 -p \"%s\"", model,
             "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
             "seventeen eighteen nineteen twenty");
    expect_failure(args, "context");
    snprintf(args, sizeof args, "run -m %s -c 16 -n 40 -p hello", model);  // prompt fits, generation does not
    expect_failure(args, "context");
}

static void test_bad_usage(void **state) {
    char *msg;
    assert_int_equal(run_cli("frobnicate", &msg), 2);
    assert_non_null(strstr(msg, "unknown command"));
    free(msg);
    assert_int_equal(run_cli("run -m x.gguf --temp hot -p hi", &msg), 2);
    assert_non_null(strstr(msg, "--temp"));
    free(msg);
    assert_int_equal(run_cli("run -p hi", &msg), 2);
    assert_non_null(strstr(msg, "no model"));
    free(msg);
    assert_int_equal(run_cli("run --help", &msg), 0);
    free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_corpus),
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_prompt_longer_than_context),
        cmocka_unit_test(test_bad_usage),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
