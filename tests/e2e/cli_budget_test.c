// cli_budget_test.c - `--mem-budget` on the command line: sizes parsed
// (512M, 1.5G, bytes), bad values refused as usage errors, a budget too
// small refused with the minimum and exit 1, the same greedy text as
// without a budget, and bench's per-token I/O fields.
#include "e2e/cli_util.h"

#include <stdio.h>
#include <string.h>

static const char *model(void) {
    const char *m = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!m) skip();
    return m;
}

static void test_bad_values(void **state) {
    (void)state;
    const char *m = model();
    const char *bad[] = {"abc", "0", "-5M", "12X", "1.5GG", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[600];
        char *msg;
        snprintf(args, sizeof args, "run -m %s -p hi --mem-budget '%s'", m, bad[i]);
        assert_int_equal(run_cli(args, &msg), 2);
        assert_non_null(strstr(msg, "for --mem-budget"));
        free(msg);
    }
    char args[600], *msg;
    snprintf(args, sizeof args, "inspect %s --mem-budget 1G", m);
    assert_int_equal(run_cli(args, &msg), 2);
    free(msg);
}

static void test_too_small(void **state) {
    (void)state;
    char args[600], *msg;
    snprintf(args, sizeof args, "run -m %s -p hi --mem-budget 1M", model());
    assert_int_equal(run_cli(args, &msg), 1);
    assert_non_null(strstr(msg, "--mem-budget 1M: memory budget 1.0 MiB is below the"));
    assert_non_null(strstr(msg, "needs at minimum"));
    free(msg);
}

static void test_same_text(void **state) {
    (void)state;
    const char *m = model();
    char args[600], *out1, *out2, *msg;
    snprintf(args, sizeof args, "run -m %s -p \"The printing press\" -n 12 --temp 0 -t 2 -c 256", m);
    assert_int_equal(run_cli_io(args, NULL, &out1, &msg), 0);
    free(msg);
    snprintf(args, sizeof args, "run -m %s -p \"The printing press\" -n 12 --temp 0 -t 2 -c 256 --mem-budget 0.05G", m);
    assert_int_equal(run_cli_io(args, NULL, &out2, &msg), 0);
    assert_non_null(strstr(msg, "memory budget 51.2 MiB"));
    assert_non_null(strstr(msg, "streamed per token"));
    assert_string_equal(out1, out2);
    free(out1), free(out2), free(msg);
}

static void test_bench_fields(void **state) {
    (void)state;
    char args[600], *out, *msg;
    snprintf(args, sizeof args, "bench -m %s -t 2 -p 4 -n 4 -r 1 --json --mem-budget 40000000", model());
    assert_int_equal(run_cli_io(args, NULL, &out, &msg), 0);
    const char *keys[] = {"\"mem_budget\": 40000000", "\"tg_read_bytes_per_token\"", "\"tg_io_wait_s_per_token\"",
                          "\"tg_compute_s_per_token\"", "\"cache_hit_rate\": null", "\"direct\": true"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strstr(out, keys[i])) fail_msg("missing %s in %s", keys[i], out);
    free(out), free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bad_values), cmocka_unit_test(test_too_small),
                                       cmocka_unit_test(test_same_text), cmocka_unit_test(test_bench_fields)};
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
