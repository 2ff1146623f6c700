// quantize_e2e_test.c - `flashlm quantize` on the real default models:
// requantizing SmolLM2 (Q4_1) to Q8_0 and Q4_K_M and Gemma 3 (Q4_K_M) to
// Q8_0 writes exactly the files llama.cpp's llama_model_quantize writes
// (tests/fixtures/quantize/real.txt, SHA-256 of the whole file); SmolLM2's
// Q8_0 copy answers the parity prompt as the original does and its GPL-3
// perplexity stays within 1% of the original's; and a run interrupted by
// SIGINT or killed by SIGKILL never leaves a partial model at OUT.
#include "test_util.h"

#include "e2e/cli_util.h"
#include "flashlm.h"
#include "sha256.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SMOL "SmolLM2-135M-Instruct.Q4_1.gguf"

static const char *model_or_skip(const char *file) {
    const char *p = flm_test_model(file);
    if (!p) skip();
    return p;
}

static void quantize_cli(const char *in, const char *out, const char *type) {
    char args[1200], *msg;
    snprintf(args, sizeof args, "quantize %s %s %s -t 2", in, out, type);
    int rc = run_cli(args, &msg);
    if (rc != 0) fail_msg("flashlm %s: exit %d: %.600s", args, rc, msg);
    free(msg);
}

// ---------------------------------------------------------------- llama.cpp's bytes

static void test_same_files_as_llama_cpp(void **state) {
    char path[512], line[512], out[320];
    snprintf(path, sizeof path, "%s/tests/fixtures/quantize/real.txt", FLM_SOURCE_DIR);
    snprintf(out, sizeof out, "%s/real.gguf", tmpdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n_run = 0;
    while (fgets(line, sizeof line, f)) {
        char model[128], model_sha[65], type[16], want[65], sha[65];
        if (sscanf(line, "real %127s %64s %15s %64s", model, model_sha, type, want) != 4) continue;
        if (getenv("FLM_SANITIZED") && (strcmp(type, "Q8_0") || strcmp(model, SMOL))) continue;  // one case
        const char *in = flm_test_model(model);
        if (!in) continue;
        assert_int_equal(sha256_file(in, sha), 0);
        if (strcmp(sha, model_sha)) fail_msg("%s is not the model the fixture was made from", in);
        quantize_cli(in, out, type);
        assert_int_equal(sha256_file(out, sha), 0);
        if (strcmp(sha, want)) fail_msg("%s -> %s: %s, llama.cpp wrote %s", model, type, sha, want);
        n_run++;
    }
    fclose(f);
    unlink(out);
    if (n_run == 0) skip();
}

// ---------------------------------------------------------------- round trip

static double perplexity(const char *path, int32_t chunks) {
    struct flm_err err = {0};
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, NULL, &err), FLM_OK);
    FILE *f = fopen("/usr/share/common-licenses/GPL-3", "rb");
    if (!f) skip();
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    int32_t n = 0, *toks = malloc(sizeof(int32_t) * 20000);
    assert_non_null(toks);
    assert_int_equal(flm_tokenize(m, text, len, true, false, toks, 20000, &n, &err), FLM_OK);
    struct flm_context *ctx;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    assert_int_equal(flm_context_init(&ctx, m, &cp, &err), FLM_OK);
    struct flm_ppl_result r;
    assert_int_equal(flm_perplexity(ctx, toks, chunks * 512, 512, NULL, NULL, &r, &err), FLM_OK);
    flm_context_free(ctx);
    flm_model_free(m);
    free(toks);
    return r.ppl;
}

static void test_round_trip_q8_0(void **state) {
    const char *in = model_or_skip(SMOL);
    char out[320], args[1200], *text, *msg;
    snprintf(out, sizeof out, "%s/smol_q8_0.gguf", tmpdir);
    quantize_cli(in, out, "Q8_0");
    // the chat_fact case of tests/fixtures/e2e/smollm2.greedy.txt
    snprintf(args, sizeof args,
             "run -m %s --temp 0 -n 16 -p '<|im_start|>user\nWhat is the capital of France, and which river flows "
             "through it?<|im_end|>\n<|im_start|>assistant\n'", out);
    assert_int_equal(run_cli_io(args, NULL, &text, &msg), 0);
    assert_string_equal(text, "The capital of France is Paris.");
    free(text);
    free(msg);
    const int32_t chunks = getenv("FLM_SANITIZED") ? 1 : 2;
    const double p0 = perplexity(in, chunks), p1 = perplexity(out, chunks);
    print_message("GPL-3 perplexity, %d chunks of 512: Q4_1 %.4f, requantized Q8_0 %.4f (%+.3f%%)\n", chunks, p0, p1,
                  100 * (p1 / p0 - 1));
    assert_true(fabs(p1 / p0 - 1) < 0.01);
    unlink(out);
}

// ---------------------------------------------------------------- interrupted runs

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void remove_tmp_files(int *n_removed) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    *n_removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".tmp")) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
            ++*n_removed;
        }
    }
    closedir(d);
}

// Starts the tool on SmolLM2 -> Q4_K_M with one thread (several seconds),
// sends sig after 1.5 s and returns the exit status (or -signal).
static int interrupted_run(const char *in, const char *out, int sig) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execl(FLM_CLI_PATH, "flashlm", "quantize", in, out, "Q4_K_M", "-t", "1", (char *)NULL);
        _exit(127);
    }
    sleep_ms(1500);
    kill(pid, sig);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFSIGNALED(ws) ? -WTERMSIG(ws) : WEXITSTATUS(ws);
}

static void check_untouched_or_complete(int rc, const char *out, const char *what) {
    char buf[32] = {0};
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (rc == 0) {  // finished before the signal: a complete model
        assert_true(n >= 4 && !memcmp(buf, "GGUF", 4));
        print_message("%s: the run finished before the signal\n", what);
    } else {
        buf[n] = '\0';
        assert_string_equal(buf, "old model");
    }
}

static void test_interrupted(void **state) {
    if (getenv("FLM_SANITIZED")) skip();  // timing-based; the library-level cancel test covers the sanitizers
    const char *in = model_or_skip(SMOL);
    char out[320];
    snprintf(out, sizeof out, "%s/interrupted.gguf", tmpdir);
    FILE *f = fopen(out, "w");
    fputs("old model", f);
    fclose(f);
    // clean cancel: exit 1, temporary file removed (-SIGINT: the signal came
    // before the tool set its handler, on a very loaded machine)
    int rc = interrupted_run(in, out, SIGINT);
    assert_true(rc == 1 || rc == 0 || rc == -SIGINT);
    check_untouched_or_complete(rc, out, "SIGINT");
    int left;
    remove_tmp_files(&left);
    assert_int_equal(left, 0);  // a cancelled run removes its temporary file
    f = fopen(out, "w");
    fputs("old model", f);
    fclose(f);
    rc = interrupted_run(in, out, SIGKILL);  // no chance to clean up: only the temporary file remains
    assert_true(rc == -SIGKILL || rc == 0);
    check_untouched_or_complete(rc, out, "SIGKILL");
    remove_tmp_files(&left);
    assert_true(left <= 1);
    unlink(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_files_as_llama_cpp),
        cmocka_unit_test(test_round_trip_q8_0),
        cmocka_unit_test(test_interrupted),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
