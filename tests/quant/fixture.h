// fixture.h - reader for the text fixtures of tests/fixtures/quant/ (written
// by scripts/refs/quant_refs.py and scripts/refs/ggml_quant_refs.py): one
// record per line, whitespace-separated tokens, '#' comment lines.
#ifndef FLM_TESTS_QUANT_FIXTURE_H
#define FLM_TESTS_QUANT_FIXTURE_H

#include "test_util.h"

#include "core/types.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QF_MAX_TOK 4096

struct qf_reader {
    FILE  *f;
    char  *line;
    size_t cap;
    char  *tok[QF_MAX_TOK];
    int    n_tok;
};

// Opens tests/fixtures/quant/<name>; fails the test when it is missing.
static inline void qf_open(struct qf_reader *r, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/quant/%s", FLM_SOURCE_DIR, name);
    memset(r, 0, sizeof *r);
    r->f = fopen(path, "r");
    if (!r->f) {
        print_error("cannot open fixture %s\n", path);
        fail();
    }
}

static inline void qf_close(struct qf_reader *r) {
    if (r->f) fclose(r->f);
    free(r->line);
    memset(r, 0, sizeof *r);
}

// Next non-comment line split into r->tok; returns false at the end.
static inline bool qf_next(struct qf_reader *r) {
    for (;;) {
        if (getline(&r->line, &r->cap, r->f) < 0) return false;
        r->n_tok = 0;
        char *save = NULL;
        for (char *t = strtok_r(r->line, " \t\r\n", &save); t && r->n_tok < QF_MAX_TOK;
             t = strtok_r(NULL, " \t\r\n", &save)) {
            r->tok[r->n_tok++] = t;
        }
        if (r->n_tok > 0 && r->tok[0][0] != '#') return true;
    }
}

// Next line, which must start with keyword kw and have at least n tokens.
static inline void qf_expect(struct qf_reader *r, const char *kw, int n) {
    assert_true(qf_next(r));
    assert_string_equal(r->tok[0], kw);
    assert_true(r->n_tok >= n);
}

static inline enum flm_type qf_type(const char *name) {
    for (uint32_t t = 0; t < FLM_TYPE_COUNT; ++t) {
        const struct flm_type_layout *l = flm_type_layout(t);
        if (l && strcasecmp(l->name, name) == 0) return (enum flm_type)t;
    }
    print_error("unknown type name %s\n", name);
    fail();
    return FLM_TYPE_COUNT;
}

// Decodes a hex string into a malloc'd buffer; *n gets the byte count.
static inline uint8_t *qf_hex(const char *hex, size_t *n) {
    const size_t len = strlen(hex);
    assert_true(len % 2 == 0);
    uint8_t *out = malloc(len / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < len / 2; ++i) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return out;
}

// Parses tokens tok[first .. first + n) as floats into a malloc'd array.
static inline float *qf_floats(struct qf_reader *r, int first, int n) {
    assert_true(first + n <= r->n_tok);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < n; ++i) v[i] = strtof(r->tok[first + i], NULL);
    return v;
}

#endif
