// cli_calibrate.c - `flashlm calibrate`: activation thresholds for --sparsity,
// computed on a calibration text and written into a new model file.
#include "cli.h"

#include "sparse/sparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// "model.gguf" -> "model.sparse.gguf"
static char *default_out(const char *in) {
    size_t n = strlen(in);
    char *out = malloc(n + 16);
    if (!out) return NULL;
    const bool ext = n > 5 && !strcmp(in + n - 5, ".gguf");
    snprintf(out, n + 16, "%.*s.sparse.gguf", (int)(ext ? n - 5 : n), in);
    return out;
}

// "30,40,50" -> 0.3 0.4 0.5; false when not ascending percentages in (0, 100).
static bool parse_levels(const char *s, struct flm_calib_params *p) {
    p->n_levels = 0;
    for (const char *c = s; *c;) {
        char *end;
        double v = strtod(c, &end);
        if (end == c || !(v > 0 && v < 100) || p->n_levels == 16 ||
            (p->n_levels && !(v / 100 > p->levels[p->n_levels - 1])))
            return false;
        p->levels[p->n_levels++] = (float)(v / 100);
        if (*end == ',') end++;
        else if (*end) return false;
        c = end;
    }
    return p->n_levels > 0;
}

int cmd_calibrate(const struct opts *o) {
    if (!o->file) {
        fprintf(stderr, "flashlm calibrate: no calibration text given (-f FILE)\n");
        return EXIT_USAGE;
    }
    char *out = o->out ? NULL : default_out(o->model);
    const char *path = o->out ? o->out : out;
    struct flm_calib_params p = flm_calib_params_default();
    if (o->calib_tokens) p.n_tokens = o->calib_tokens;
    if (o->levels && !parse_levels(o->levels, &p)) {
        fprintf(stderr, "flashlm calibrate: invalid --levels '%s' (ascending percentages in (0, 100), at most 16)\n",
                o->levels);
        free(out);
        return EXIT_USAGE;
    }
    p.n_threads = o->n_threads;
    if (o->method) p.method = o->method;
    if (flm_sparse_method_parse(p.method) < 0) {
        fprintf(stderr, "flashlm calibrate: unknown --method '%s' (chess-cond, global, chess-down, chess or cats)\n",
                p.method);
        free(out);
        return EXIT_USAGE;
    }
    if (o->n_ctx) p.chunk_len = o->n_ctx;
    size_t len = 0;
    char *text = cli_read_file(o->file, &len);
    if (!text) {
        free(out);
        return 1;
    }
    struct flm_err err = {0};
    int32_t used = 0;
    double t0 = cli_now();
    flm_status s = path ? flm_calibrate(o->model, text, len, path, &p, &used, &err) : FLM_ERR_NOMEM;
    free(text);
    if (s) {
        fprintf(stderr, "flashlm: %s\n", path ? err.msg : "out of memory");
        free(out);
        return 1;
    }
    printf("wrote %s: %s thresholds for levels", path, p.method);
    for (int32_t j = 0; j < p.n_levels; j++) printf(" %g%%", (double)(p.levels[j] * 100.0f));
    printf(" from %d tokens of %s (%.1f s)\n", used, o->file, cli_now() - t0);
    free(out);
    return 0;
}
