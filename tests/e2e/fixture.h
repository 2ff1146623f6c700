// fixture.h - readers for the llama.cpp reference fixtures in
// tests/fixtures/e2e (format: scripts/refs/README.md). Header-only, for tests.
#ifndef FLM_TEST_E2E_FIXTURE_H
#define FLM_TEST_E2E_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_MAX_CASES 16
#define FIX_TOPK 32
#define FIX_PROBE 64

struct fix_ids {
    int32_t *v;
    int32_t  n;
};

struct fix_pos {
    int32_t token;
    float   maxabs;
    int32_t top_id[FIX_TOPK];
    float   top_val[FIX_TOPK];
    float   probe[FIX_PROBE];
};

struct fix_case {
    char           name[64];
    struct fix_ids prompt, gen;
    int32_t        n_pos;
    struct fix_pos *pos;  // [n_pos] logits at every evaluated position
};

struct fix_model {
    int32_t         n_cases;
    struct fix_case cases[FIX_MAX_CASES];
    int32_t         probe_ids[FIX_PROBE];
    int32_t         n_vocab;
};

// Reads "key N" then "key_at OFF id id ..." lines into ids.
static int fix_read_ids(FILE *f, char *line, size_t cap, int32_t n, struct fix_ids *out) {
    out->n = n;
    out->v = calloc((size_t)n + 1, sizeof *out->v);
    int32_t got = 0;
    while (got < n && fgets(line, (int)cap, f)) {
        char *p = strchr(line, ' ');
        if (!p) return -1;
        long off = strtol(p, &p, 10);
        if (off != got) return -1;
        for (char *end; got < n; got++) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            out->v[got] = (int32_t)v;
            p = end;
        }
    }
    return got == n ? 0 : -1;
}

__attribute__((unused)) static void fix_free(struct fix_model *m) {
    for (int i = 0; i < m->n_cases; i++) {
        free(m->cases[i].prompt.v);
        free(m->cases[i].gen.v);
        free(m->cases[i].pos);
    }
    memset(m, 0, sizeof *m);
}

// Loads <tag>.greedy.txt and <tag>.logits.txt. Returns 0 or -1.
__attribute__((unused)) static int fix_load(struct fix_model *m, const char *dir, const char *tag) {
    memset(m, 0, sizeof *m);
    char path[1200], line[8192];
    snprintf(path, sizeof path, "%s/%s.greedy.txt", dir, tag);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    struct fix_case *c = NULL;
    while (fgets(line, sizeof line, f)) {
        int n;
        if (!strncmp(line, "case ", 5) && m->n_cases < FIX_MAX_CASES) {
            c = &m->cases[m->n_cases++];
            sscanf(line + 5, "%63s", c->name);
        } else if (c && sscanf(line, "prompt_ids %d", &n) == 1) {
            if (fix_read_ids(f, line, sizeof line, n, &c->prompt)) break;
        } else if (c && sscanf(line, "gen_ids %d", &n) == 1) {
            if (fix_read_ids(f, line, sizeof line, n, &c->gen)) break;
        } else if (sscanf(line, "n_vocab %d", &n) == 1) {
            m->n_vocab = n;
        }
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.logits.txt", dir, tag);
    if (!(f = fopen(path, "r"))) return -1;
    int ci = -1, pi = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        int n_rows, n_prompt;
        if (!strncmp(line, "probe_ids ", 10)) {
            strtol(p + 10, &p, 10);
            for (int i = 0; i < FIX_PROBE; i++) m->probe_ids[i] = (int32_t)strtol(p, &p, 10);
        } else if (sscanf(line, "case %*s %d %d", &n_rows, &n_prompt) == 2 && ci + 1 < m->n_cases) {
            c = &m->cases[++ci];
            c->n_pos = n_rows;
            c->pos = calloc((size_t)n_rows, sizeof *c->pos);
            pi = 0;
        } else if (!strncmp(line, "pos ", 4) && ci >= 0 && pi < c->n_pos) {
            struct fix_pos *q = &c->pos[pi++];
            p += 4;
            strtol(p, &p, 10);
            q->token = (int32_t)strtol(p, &p, 10);
            q->maxabs = strtof(p, &p);
            for (int i = 0; i < FIX_TOPK; i++) {
                q->top_id[i] = (int32_t)strtol(p, &p, 10);
                q->top_val[i] = strtof(p, &p);
            }
            for (int i = 0; i < FIX_PROBE; i++) q->probe[i] = strtof(p, &p);
        }
    }
    fclose(f);
    return m->n_cases > 0 && ci == m->n_cases - 1 ? 0 : -1;
}

#endif
