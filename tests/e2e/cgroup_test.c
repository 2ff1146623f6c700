// cgroup_test.c - the memory budget checked from outside: `flashlm run
// --mem-budget X` runs in a memory cgroup limited to X (v1 or v2, whichever
// is mounted) after the page cache is dropped, at 50% and 25% of each model
// file. It must never be OOM-killed, and the cgroup's recorded peak (page
// cache included) must stay under X; a budget the accountant refuses up
// front (exit 1, the minimum in the message) is also fine. Its greedy text
// must equal the unbudgeted run's. The same for --sparsity 50 on a
// calibrated, bundled SmolLM2 made here (the neuron cache's memory is under
// the budget too). Needs root and a cgroup file system; skipped (with the
// reason) otherwise.
#include "e2e/cli_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int  version;       // 1 or 2
static char group[256];    // this test's cgroup folder

static bool write_file(const char *dir, const char *name, const char *value) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return false;
    bool ok = fputs(value, f) >= 0;
    return fclose(f) == 0 && ok;
}

static long long read_value(const char *name, const char *key) {
    char p[400], line[256];
    snprintf(p, sizeof p, "%s/%s", group, name);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    long long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (!key) { v = atoll(line); break; }
        if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ') { v = atoll(line + strlen(key) + 1); break; }
    }
    fclose(f);
    return v;
}

#if defined(__SANITIZE_ADDRESS__)
#define FLM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FLM_ASAN 1
#endif
#endif

static const char *make_group(void) {
#ifdef FLM_ASAN
    return "sanitizer build: AddressSanitizer's shadow memory and quarantine are not under any budget";
#endif
    if (geteuid() != 0) return "not root";
    struct stat sb;
    if (stat("/sys/fs/cgroup/cgroup.controllers", &sb) == 0) {
        version = 2;
        write_file("/sys/fs/cgroup", "cgroup.subtree_control", "+memory");
        snprintf(group, sizeof group, "/sys/fs/cgroup/flm_budget_test_%d", (int)getpid());
    } else if (stat("/sys/fs/cgroup/memory/memory.limit_in_bytes", &sb) == 0) {
        version = 1;
        snprintf(group, sizeof group, "/sys/fs/cgroup/memory/flm_budget_test_%d", (int)getpid());
    } else {
        return "no memory cgroup file system (neither v2 nor v1 memory controller mounted)";
    }
    if (mkdir(group, 0755) != 0) return "cannot create a memory cgroup";
    return NULL;
}

static const char *why_skip(void) {
    static bool done;
    static const char *why;
    if (!done) done = true, why = make_group();
    return why;
}

static char *greedy_args(const char *args, bool in_group, int *rc, char **msg) {
    char *out = NULL;
    if (in_group) {
        // the shell joins the group, then becomes flashlm
        char cmd[2000];
        snprintf(cmd, sizeof cmd, "-c 'echo $$ > %s/cgroup.procs && exec %s %s'", group, FLM_CLI_PATH, args);
        char full[2100];
        snprintf(full, sizeof full, "sh %s", cmd);
        char errf[320], outf[320], sys[3000];
        snprintf(errf, sizeof errf, "%s/stderr.txt", tmpdir);
        snprintf(outf, sizeof outf, "%s/stdout.txt", tmpdir);
        snprintf(sys, sizeof sys, "timeout -s KILL 600 %s >%s 2>%s", full, outf, errf);
        int st = system(sys);
        *rc = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
        out = calloc(1, 65536);
        *msg = calloc(1, 65536);
        FILE *f = fopen(outf, "r");
        if (f) { size_t n = fread(out, 1, 65535, f); out[n] = 0; fclose(f); }
        f = fopen(errf, "r");
        if (f) { size_t n = fread(*msg, 1, 65535, f); (*msg)[n] = 0; fclose(f); }
        return out;
    }
    *rc = run_cli_io(args, NULL, &out, msg);
    return out;
}

static char *greedy(const char *model, const char *budget_arg, bool in_group, int *rc, char **msg) {
    char args[1200];
    snprintf(args, sizeof args, "run -m %s -p \"The printing press\" -n 8 --temp 0 -t 2 -c 256 %s", model, budget_arg);
    return greedy_args(args, in_group, rc, msg);
}

// file under models/, or a path; extra: more flashlm flags for every run.
static void check_model_with(const char *file, const char *extra) {
    const char *model = file[0] == '/' ? file : flm_test_model(file);
    if (!model) skip();
    const char *why = why_skip();
    if (why) {
        printf("  skipped: %s\n", why);
        skip();
    }
    struct stat sb;
    assert_int_equal(stat(model, &sb), 0);
    int rc;
    char *msg;
    char *ref = greedy(model, extra, false, &rc, &msg);
    assert_int_equal(rc, 0);
    free(msg);
    const int pct[] = {50, 25};
    for (int i = 0; i < 2; i++) {
        const long long budget = (long long)sb.st_size * pct[i] / 100;
        char v[64], arg[300];
        snprintf(v, sizeof v, "%lld", budget);
        snprintf(arg, sizeof arg, "--mem-budget %lld %s", budget, extra);
        if (version == 1) {
            assert_true(write_file(group, "memory.limit_in_bytes", v));
            write_file(group, "memory.max_usage_in_bytes", "0");
        } else {
            assert_true(write_file(group, "memory.max", v));
            write_file(group, "memory.swap.max", "0");
        }
        sync();
        assert_true(write_file("/proc/sys/vm", "drop_caches", "3"));
        char *out = greedy(model, arg, true, &rc, &msg);
        const long long peak = version == 1 ? read_value("memory.max_usage_in_bytes", NULL) : read_value("memory.peak", NULL);
        const long long ooms = version == 1 ? read_value("memory.oom_control", "oom_kill") : read_value("memory.events", "oom_kill");
        printf("  %s%s%s at %d%% (%.1f MiB): exit %d, cgroup peak %.1f MiB, oom kills %lld\n", file, extra[0] ? " " : "",
               extra, pct[i], budget / 1048576.0, rc, peak / 1048576.0, ooms);
        if (strstr(msg, "neuron cache:")) printf("    %s", strstr(msg, "neuron cache:"));
        assert_true(rc >= 0);  // never killed
        assert_true(ooms <= 0);
        if (peak >= 0) assert_true(peak <= budget);
        if (rc == 1) {
            printf("    refused: %s", msg);
            assert_non_null(strstr(msg, "needs at minimum"));
        } else {
            assert_int_equal(rc, 0);
            if (strcmp(out, ref)) fail_msg("output differs:\n%s\n---\n%s\n%s", out, ref, msg);
        }
        free(out);
        free(msg);
    }
    free(ref);
}

static void check_model(const char *file) { check_model_with(file, ""); }

// --sparsity 50 on a calibrated, bundled SmolLM2: the neuron cache under the budget.
static void test_smollm2_sparse(void **state) {
    (void)state;
    const char *m = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!m) skip();
    if (why_skip()) {
        printf("  skipped: %s\n", why_skip());
        skip();
    }
    char args[1200], cal[300], bundled[300], *msg;
    snprintf(cal, sizeof cal, "%s/cal.gguf", tmpdir);
    snprintf(bundled, sizeof bundled, "%s/cal.bundle.gguf", tmpdir);
    snprintf(args, sizeof args, "calibrate -m %s -f /usr/share/common-licenses/GPL-2 -o %s --tokens 192 -c 64 --levels 50",
             m, cal);
    int rc = run_cli(args, &msg);
    if (rc) fail_msg("calibrate: %s", msg);
    free(msg);
    snprintf(args, sizeof args, "convert --bundle %s %s", cal, bundled);
    rc = run_cli(args, &msg);
    if (rc) fail_msg("convert: %s", msg);
    free(msg);
    check_model_with(bundled, "--sparsity 50");
}

static void test_smollm2(void **state) { (void)state; check_model("SmolLM2-135M-Instruct.Q4_1.gguf"); }
static void test_gemma3(void **state) { (void)state; check_model("gemma-3-270m-q4_k_m.gguf"); }
static void test_rand1b(void **state) { (void)state; check_model("rand-llama1b-q4_0.gguf"); }

static int teardown(void **state) {
    if (group[0]) rmdir(group);
    return cli_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smollm2), cmocka_unit_test(test_smollm2_sparse),
                                       cmocka_unit_test(test_gemma3), cmocka_unit_test(test_rand1b)};
    return cmocka_run_group_tests(tests, cli_setup, teardown);
}
