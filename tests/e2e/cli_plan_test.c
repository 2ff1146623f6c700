// cli_plan_test.c - `flashlm plan` on the command line: --json prints one
// object with the memory breakdown, the disk table, a row per layer and the
// prediction (parseable numbers, rows adding up to the bytes streamed); the
// text form names the prediction; a budget too small is refused with the
// minimum and exit 1, as run refuses it; a missing file exits 1 naming it;
// --sparsity (not modelled) is a usage error.
#include "e2e/cli_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *model(void) {
    const char *m = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!m) skip();
    return m;
}

// The number after "key": at or after from; fails the test when absent.
static double field(const char *from, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(from, pat);
    assert_non_null(p);
    char *end;
    const double v = strtod(p + strlen(pat), &end);
    assert_true(end > p + strlen(pat));
    return v;
}

static void test_json(void **state) {
    (void)state;
    char args[600], *out, *msg;
    snprintf(args, sizeof args, "plan -m %s --mem-budget 47M -t 2 -c 32 -b 8 --json", model());
    assert_int_equal(run_cli_io(args, NULL, &out, &msg), 0);
    assert_true(out[0] == '{' && strstr(out, "}\n") != NULL);
    const double budget = field(out, "mem_budget"), total = field(strstr(out, "\"memory\""), "total");
    assert_true(budget == 47.0 * 1048576 && total > 0 && total <= budget);
    const double stream = field(out, "stream_bytes");
    assert_true(field(out, "pool_slots") >= 2);
    assert_true(field(strstr(out, "\"disk\""), "bytes_per_s") > 0);
    // 30 layers and the LM head; their flash bytes add up to what streams
    double flash = 0;
    int rows = 0;
    for (const char *p = strstr(out, "\"layers\""); (p = strstr(p, "\"group\": ")); p++, rows++)
        flash += field(p, "flash_bytes");
    assert_int_equal(rows, 31);
    assert_true(fabs(flash - stream) < 0.5);
    const char *pred = strstr(out, "\"predicted\"");
    assert_non_null(pred);
    assert_true(field(pred, "tok_s") > 0);
    assert_true(field(pred, "token_s") > 0);
    assert_true(field(pred, "read_bytes_per_token") == stream);
    free(out), free(msg);
}

static void test_text_in_memory(void **state) {
    (void)state;
    char args[600], *out, *msg;
    snprintf(args, sizeof args, "plan -m %s -t 1", model());
    assert_int_equal(run_cli_io(args, NULL, &out, &msg), 0);
    assert_non_null(strstr(out, "memory: no budget"));
    assert_non_null(strstr(out, "predicted: "));
    assert_non_null(strstr(out, "lm_head"));
    free(out), free(msg);
}

static void test_refusals(void **state) {
    (void)state;
    char args[600], *msg;
    snprintf(args, sizeof args, "plan -m %s --mem-budget 20M", model());
    assert_int_equal(run_cli(args, &msg), 1);
    assert_non_null(strstr(msg, "--mem-budget 20M: memory budget 20.0 MiB is below the"));
    assert_non_null(strstr(msg, "needs at minimum"));
    free(msg);
    snprintf(args, sizeof args, "plan -m %s/nonexistent.gguf", tmpdir);
    assert_int_equal(run_cli(args, &msg), 1);
    assert_non_null(strstr(msg, "nonexistent.gguf"));
    free(msg);
    assert_int_equal(run_cli("plan", &msg), 2);
    free(msg);
    snprintf(args, sizeof args, "plan -m %s --sparsity 50", model());
    assert_int_equal(run_cli(args, &msg), 2);
    assert_non_null(strstr(msg, "--sparsity is not modelled"));
    free(msg);
    assert_int_equal(run_cli("plan --help", &msg), 0);
    free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_in_memory),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
