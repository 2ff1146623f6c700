// cli_util.h - running the flashlm binary from tests: a private temporary
// folder, a time limit, stderr captured, sanitizer reports turned into their
// own exit code (86) so they are never mistaken for a clean failure (1).
#ifndef FLM_TEST_CLI_UTIL_H
#define FLM_TEST_CLI_UTIL_H

#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char tmpdir[256];

// Runs the CLI with args (and stdin from in_file or /dev/null) under a time
// limit; returns its exit status (or -signal). *out and *msg (malloc'd) get
// stdout and stderr; out may be NULL. In a cross build the CLI runs through
// the emulator that runs the tests (FLM_TEST_EMULATOR, e.g. qemu-aarch64).
static __attribute__((unused)) int run_cli_io(const char *args, const char *in_file, char **out, char **msg) {
    char cmd[4096], errf[320], outf[320];
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmpdir);
    snprintf(outf, sizeof outf, "%s/stdout.txt", tmpdir);
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=exitcode=86:halt_on_error=1 "
             "timeout -s KILL 120 %s%s%s %s <%s >%s 2>%s",
             FLM_TEST_EMULATOR, FLM_TEST_EMULATOR[0] ? " " : "", FLM_CLI_PATH, args, in_file ? in_file : "/dev/null",
             outf, errf);
    int st = system(cmd);
    const char *files[2] = {errf, outf};
    char **dst[2] = {msg, out};
    for (int k = 0; k < 2; k++) {
        if (!dst[k]) continue;
        *dst[k] = calloc(1, 65536);
        FILE *f = fopen(files[k], "r");
        if (f) {
            size_t n = fread(*dst[k], 1, 65535, f);
            (*dst[k])[n] = '\0';
            fclose(f);
        }
    }
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return WEXITSTATUS(st);
}

static __attribute__((unused)) int run_cli(const char *args, char **msg) { return run_cli_io(args, NULL, NULL, msg); }

static __attribute__((unused)) int cli_setup(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/flm_cli_test_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static __attribute__((unused)) int cli_teardown(void **state) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
