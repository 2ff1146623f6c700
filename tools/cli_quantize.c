// cli_quantize.c - `flashlm quantize IN OUT --type T`: argument parsing, a
// progress bar on stderr, and Ctrl-C turned into a clean cancel. The work is
// the library's flm_quantize (src/convert/quantize.c).
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_quantize_usage(void) {
    printf("usage: flashlm quantize IN OUT --type TYPE [-t THREADS]\n"
           "       flashlm quantize IN OUT TYPE [-t THREADS]\n\n"
           "Writes the GGUF model IN quantized to TYPE at OUT, with the per-tensor types,\n"
           "bytes and metadata llama.cpp's quantize tool (llama_model_quantize) writes.\n"
           "IN may hold F32, F16, BF16 or quantized tensors (quantized ones are\n"
           "dequantized first; tensors already of their target type are copied).\n"
           "OUT is written to a temporary file beside it and renamed into place when\n"
           "complete, so a failed or interrupted run (Ctrl-C) leaves OUT as it was.\n"
           "OUT must not be IN (also through a link).\n\n"
           "  -T, --type TYPE         target file type (case-insensitive; Q3_K, Q4_K, Q5_K\n"
           "                          mean the _M mixes):\n");
    const char *desc;
    for (int i = 0; flm_quantize_type_name(i, &desc); i++)
        printf("      %-8s %s\n", flm_quantize_type_name(i, NULL), desc);
    printf("  In every quantized type output.weight (token_embd.weight when the model has\n"
           "  none) is Q6_K (Q8_0 for Q8_0); a K-quant that does not divide a row length\n"
           "  falls back to Q4_0/Q5_0/Q5_1/Q8_0 or F16; norms and 1-D tensors are kept.\n"
           "  -t, --threads N         threads (default: all cores)\n"
           "  -q, --quiet             no progress bar\n");
}

// ---------------------------------------------------------------- progress

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

struct bar {
    bool   quiet, tty;
    int    last;  // last permille drawn (tty) or decile printed (not a tty)
    double t0;
};

static bool on_progress(void *user, int64_t i, int64_t n, uint64_t done, uint64_t total) {
    struct bar *b = user;
    if (interrupted) return false;
    if (b->quiet) return true;
    const int permille = total ? (int)(done * 1000 / total) : 1000;
    if (b->tty) {
        if (permille == b->last) return true;
        b->last = permille;
        char fill[41];
        const int k = permille * 40 / 1000;
        memset(fill, '#', (size_t)k);
        memset(fill + k, '.', (size_t)(40 - k));
        fill[40] = '\0';
        fprintf(stderr, "\r[%s] %5.1f%%  tensor %lld/%lld  %.1f s", fill, permille / 10.0, (long long)i + 1,
                (long long)n, cli_now() - b->t0);
    } else if (permille / 100 > b->last) {
        b->last = permille / 100;
        fprintf(stderr, "flashlm quantize: %3d%%  tensor %lld/%lld  %.1f s\n", b->last * 10, (long long)i + 1,
                (long long)n, cli_now() - b->t0);
    }
    return true;
}

// ---------------------------------------------------------------- command

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "flashlm quantize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'flashlm quantize --help')\n");
    return EXIT_USAGE;
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0;
    struct flm_quantize_params p = flm_quantize_params_default();
    p.type = NULL;
    struct bar b = {.last = -1, .tty = isatty(STDERR_FILENO) != 0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_quantize_usage();
            return 0;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            b.quiet = true;
        } else if (!strcmp(a, "-T") || !strcmp(a, "--type") || !strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return usage_error("option '%s' needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-T") || !strcmp(a, "--type")) {
                p.type = v;
                continue;
            }
            char *end;
            errno = 0;
            long t = strtol(v, &end, 10);
            if (errno || end == v || *end || t < 1 || t > 256) return usage_error("invalid thread count '%s'", v);
            p.n_threads = (int32_t)t;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (n_pos == 3) {
        if (p.type) return usage_error("the type is given twice ('%s' and --type)", pos[2]);
        p.type = pos[2];
    }
    if (n_pos < 2) return usage_error("%s", "needs IN and OUT");
    if (!p.type) return usage_error("%s", "needs a target type (--type TYPE)");
    // an unknown type is bad usage, not a failed run
    bool known = false;
    for (int i = 0; flm_quantize_type_name(i, NULL); i++) known |= !strcasecmp(p.type, flm_quantize_type_name(i, NULL));
    known |= !strcasecmp(p.type, "Q3_K") || !strcasecmp(p.type, "Q4_K") || !strcasecmp(p.type, "Q5_K");
    if (!known) return usage_error("unsupported target type '%s'", p.type);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    p.on_progress = on_progress;
    p.user = &b;
    b.t0 = cli_now();
    struct flm_err err = {0};
    flm_status s = flm_quantize(pos[0], pos[1], &p, &err);
    if (!b.quiet && b.tty && b.last >= 0) fputc('\n', stderr);
    if (s != FLM_OK) {
        if (s == FLM_ERR_CANCELLED) fprintf(stderr, "flashlm: interrupted; '%s' was not written\n", pos[1]);
        else fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    struct stat si, so;
    const double mib = 1048576.0;
    if (stat(pos[0], &si) == 0 && stat(pos[1], &so) == 0)
        fprintf(stderr, "flashlm: wrote %s (%s, %.2f MiB from %.2f MiB) in %.2f s\n", pos[1], p.type,
                so.st_size / mib, si.st_size / mib, cli_now() - b.t0);
    return 0;
}
