// cli_spec.c - the speculative-decoding options shared by run, chat and bench,
// and its statistics line.
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_usage_spec =
    "      --spec MODE         speculative decoding: lookup (n-grams of the context), self (the model's\n"
    "                          first layers draft), draft (a smaller model drafts; needs --draft)\n"
    "      --draft FILE        draft model with the same vocabulary (--spec draft)\n"
    "      --draft-max N       most tokens drafted per verification pass (default 8, at most 32)\n"
    "      --spec-layers L     --spec self: first L layers, or a list like 0-7,9 (default: first half)\n"
    "      --ngram A-B         --spec lookup: n-gram sizes matched, longest first (default 2-4)\n"
    "      --no-adapt          keep the draft length fixed; never fall back to plain decoding\n";

static bool parse_i32(const char *s, int32_t *out, int32_t lo, int32_t hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int32_t)v;
    return true;
}

int cli_parse_spec(const char *cmd, const char *a, const char *v, struct opts *o, bool *used_value) {
    *used_value = true;
    bool ok = true;
    if (!strcmp(a, "--no-adapt")) {
        o->spec.adaptive = false;
        *used_value = false;
        return 1;
    }
    if (strcmp(a, "--spec") && strcmp(a, "--draft") && strcmp(a, "--draft-max") && strcmp(a, "--spec-layers") &&
        strcmp(a, "--ngram"))
        return 0;
    if (!v) {
        fprintf(stderr, "flashlm %s: option '%s' needs a value\n", cmd, a);
        return -1;
    }
    if (!strcmp(a, "--spec")) {
        if (!strcmp(v, "lookup")) o->spec.mode = FLM_SPEC_LOOKUP;
        else if (!strcmp(v, "self")) o->spec.mode = FLM_SPEC_SELF;
        else if (!strcmp(v, "draft")) o->spec.mode = FLM_SPEC_DRAFT;
        else if (!strcmp(v, "none")) o->spec.mode = FLM_SPEC_NONE;
        else ok = false;
    } else if (!strcmp(a, "--draft")) {
        o->draft_file = v;
    } else if (!strcmp(a, "--draft-max")) {
        ok = parse_i32(v, &o->spec.draft_max, 1, 32);
    } else if (!strcmp(a, "--spec-layers")) {
        o->spec.self_layers = v;
    } else {
        char lo[16] = {0}, hi[16] = {0};
        const char *dash = strchr(v, '-');
        ok = dash && dash - v < 15 && strlen(dash + 1) < 15;
        if (ok) {
            memcpy(lo, v, (size_t)(dash - v));
            strcpy(hi, dash + 1);
            ok = parse_i32(lo, &o->spec.ngram_min, 1, 64) && parse_i32(hi, &o->spec.ngram_max, 1, 64) &&
                 o->spec.ngram_min <= o->spec.ngram_max;
        }
    }
    if (!ok) {
        fprintf(stderr, "flashlm %s: invalid value '%s' for %s\n", cmd, v, a);
        return -1;
    }
    return 1;
}

void cli_print_spec_stats(const struct flm_spec *spec) {
    if (!spec) return;
    struct flm_spec_stats s;
    flm_spec_get_stats(spec, &s);
    fprintf(stderr,
            "flashlm: speculation: %d passes verified %d drafted tokens, %d accepted (%.1f%%), mean accepted length "
            "%.2f (%.2f tokens per pass); %d tokens decoded plainly\n",
            s.n_passes, s.n_drafted, s.n_accepted, s.n_drafted ? 100.0 * s.n_accepted / s.n_drafted : 0.0,
            s.n_passes ? (double)s.n_accepted / s.n_passes : 0.0,
            s.n_passes ? (double)(s.n_accepted + s.n_passes) / s.n_passes : 0.0, s.n_plain);
}
