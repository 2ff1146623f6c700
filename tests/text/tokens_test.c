// tokens_test.c - token ids identical to llama.cpp's on the real models.
//
// Compares flm_vocab_tokenize and flm_vocab_piece (hand-picked and seeded
// random strings) with the fixtures that
// scripts/refs/tokens.py wrote from llama.cpp (tests/fixtures/tokens/), checks
// the token attributes and EOG set, the GPL-3 text used by the perplexity
// test, the round trip text -> ids -> pieces, and the speed of loading and
// tokenizing. Skips when models/ lacks the files.
#include "test_util.h"

#include "format/gguf.h"
#include "text/utf8.h"
#include "text/vocab.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

struct model_case {
    const char *name;  // fixture suffix
    const char *file;  // under models/
};
static const struct model_case models[] = {
    {"smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"},
    {"gemma3", "gemma-3-270m-q4_k_m.gguf"},
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Opens the model and builds its vocabulary; NULL (test skipped) when absent.
static struct flm_vocab *load(const struct model_case *m, struct flm_gguf **g, double *load_s) {
    const char *path = flm_test_model(m->file);
    if (!path) return NULL;
    struct flm_err err = {0};
    assert_int_equal(flm_gguf_open(g, path, 0, &err), FLM_OK);
    struct flm_vocab *v = NULL;
    double            t0 = now_s();
    flm_status        st = flm_vocab_load(&v, *g, &err);
    if (load_s) *load_s = now_s() - t0;
    if (st != FLM_OK) fail_msg("%s: %s", m->file, err.msg);
    return v;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static char *fixture(const char *kind, const char *model, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokens/%s_%s.txt", FLM_SOURCE_DIR, kind, model);
    char *s = read_file(path, len);
    if (!s) fail_msg("missing fixture %s (run scripts/refs/tokens.py)", path);
    return s;
}

// "-" or hex digits into bytes; returns the length.
static size_t unhex(const char *h, char *out) {
    if (strcmp(h, "-") == 0) return 0;
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &b), 1);
        out[i] = (char)b;
    }
    return n;
}

static void print_ids(const char *what, const int32_t *ids, int32_t n) {
    fprintf(stderr, "  %s (%d):", what, n);
    for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

// Tokenizes text and compares with want; prints the first difference.
static bool same_ids(const struct flm_vocab *v, const char *text, size_t len, bool add, bool parse,
                     const int32_t *want, int32_t n_want, const char *label) {
    int32_t       *got = malloc(((size_t)len + 8) * sizeof *got);
    int32_t        n = 0;
    struct flm_err err = {0};
    assert_non_null(got);
    flm_status st = flm_vocab_tokenize(v, text, len, add, parse, got, (int32_t)len + 8, &n, &err);
    if (st != FLM_OK) fail_msg("%s: tokenize failed: %s", label, err.msg);
    int32_t i = 0;
    while (i < n && i < n_want && got[i] == want[i]) i++;
    bool ok = i == n && i == n_want;
    if (!ok) {
        fprintf(stderr, "%s add_special=%d parse_special=%d: first difference at position %d\n", label, add, parse,
                i);
        print_ids("llama.cpp", want, n_want);
        print_ids("flashlm  ", got, n);
    }
    free(got);
    return ok;
}

static size_t pieces(const struct flm_vocab *v, const int32_t *ids, int32_t n, bool special, char *out) {
    size_t len = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = flm_vocab_piece(v, ids[i], out + len, 256, special);
        assert_true(k >= 0);
        len += (size_t)k;
    }
    return len;
}

// ---------------------------------------------------------------- cases

// Compares every case of fixture <kind>_<name>.txt; returns the number that differ.
static int check_case_file(const struct flm_vocab *v, const char *kind, const char *name) {
    size_t len;
    char  *file = fixture(kind, name, &len);
    char  *text = malloc(len + 1), *d0 = malloc(len + 1), *d1 = malloc(len + 1), *got = malloc(64 * len + 64);
    int32_t *ids = malloc((len + 1) * sizeof *ids);
    int      n_cases = 0, n_bad = 0;
    char    *save = NULL;
    for (char *line = strtok_r(file, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *fs = NULL;
        int   add = atoi(strtok_r(line, " ", &fs)), parse = atoi(strtok_r(NULL, " ", &fs));
        size_t  n_text = unhex(strtok_r(NULL, " ", &fs), text);
        int32_t n_ids = atoi(strtok_r(NULL, " ", &fs));
        for (int32_t i = 0; i < n_ids; i++) ids[i] = atoi(strtok_r(NULL, " ", &fs));
        size_t n_d0 = unhex(strtok_r(NULL, " ", &fs), d0), n_d1 = unhex(strtok_r(NULL, " ", &fs), d1);
        char   label[128];
        snprintf(label, sizeof label, "%s_%s case %d", kind, name, n_cases);
        n_cases++;
        if (!same_ids(v, text, n_text, add, parse, ids, n_ids, label)) {
            n_bad++;
            continue;
        }
        size_t g0 = pieces(v, ids, n_ids, false, got);
        if (g0 != n_d0 || memcmp(got, d0, g0) != 0) {
            fprintf(stderr, "%s: pieces (special=0) differ from llama.cpp's\n", label);
            n_bad++;
        }
        size_t g1 = pieces(v, ids, n_ids, true, got);
        if (g1 != n_d1 || memcmp(got, d1, g1) != 0) {
            fprintf(stderr, "%s: pieces (special=1) differ from llama.cpp's\n", label);
            n_bad++;
        }
    }
    free(file), free(text), free(d0), free(d1), free(got), free(ids);
    assert_true(n_cases >= 160);
    if (n_bad) fprintf(stderr, "%s: %d of %d cases differ from llama.cpp\n", name, n_bad, n_cases);
    return n_bad;
}

static void check_cases(const struct model_case *m) {
    struct flm_gguf  *g = NULL;
    struct flm_vocab *v = load(m, &g, NULL);
    if (!v) skip();
    int n_bad = check_case_file(v, "cases", m->name) + check_case_file(v, "random", m->name);
    flm_vocab_free(v);
    flm_gguf_close(g);
    assert_int_equal(n_bad, 0);
}

static void test_cases_smollm2(void **state) {
    (void)state;
    check_cases(&models[0]);
}
static void test_cases_gemma3(void **state) {
    (void)state;
    check_cases(&models[1]);
}

// ---------------------------------------------------------------- variants

// The arrays of a GGUF vocabulary, read independently of vocab_gguf.c.
struct spec_arrays {
    const char **tok, **mer;
    size_t      *tok_len, *mer_len;
    float       *scores;
    int32_t     *types;
};

static void read_strs(const struct flm_gguf *g, const char *key, const char ***s, size_t **l, int32_t *n) {
    int64_t  idx;
    uint64_t len;
    assert_int_equal(flm_gguf_get_arr(g, key, FLM_GGUF_STRING, &idx, &len, NULL), FLM_OK);
    *s = malloc(len * sizeof **s), *l = malloc(len * sizeof **l), *n = (int32_t)len;
    for (uint64_t j = 0; j < len; j++) {
        struct flm_gguf_str str = flm_gguf_arr_str(g, idx, j);
        (*s)[j] = str.ptr, (*l)[j] = (size_t)str.len;
    }
}

static void *read_nums(const struct flm_gguf *g, const char *key, enum flm_gguf_vtype t) {
    int64_t  idx;
    uint64_t len;
    if (flm_gguf_find_key(g, key) < 0) return NULL;
    assert_int_equal(flm_gguf_get_arr(g, key, t, &idx, &len, NULL), FLM_OK);
    void *p = malloc(len * 4);
    memcpy(p, flm_gguf_arr_data(g, idx), len * 4);
    return p;
}

static int32_t read_id(const struct flm_gguf *g, const char *key) {
    uint32_t id;
    return flm_gguf_get_u32(g, key, &id, NULL) == FLM_OK ? (int32_t)id : -1;
}

// The model's vocabulary with another pre-tokenizer (pre != NULL) or add_space_prefix.
static struct flm_vocab *load_variant(const struct model_case *m, const char *pre, bool space_prefix) {
    const char *path = flm_test_model(m->file);
    if (!path) return NULL;
    struct flm_gguf *g = NULL;
    assert_int_equal(flm_gguf_open(&g, path, 0, NULL), FLM_OK);
    struct spec_arrays    a = {0};
    struct flm_vocab_spec s = {.kind = pre ? FLM_VOCAB_BPE : FLM_VOCAB_SPM, .pre = pre};
    read_strs(g, "tokenizer.ggml.tokens", &a.tok, &a.tok_len, &s.n_tokens);
    if (pre) read_strs(g, "tokenizer.ggml.merges", &a.mer, &a.mer_len, &s.n_merges);
    a.scores = read_nums(g, "tokenizer.ggml.scores", FLM_GGUF_FLOAT32);
    a.types = read_nums(g, "tokenizer.ggml.token_type", FLM_GGUF_INT32);
    s.tokens = a.tok, s.token_lens = a.tok_len, s.merges = a.mer, s.merge_lens = a.mer_len;
    s.scores = a.scores, s.types = a.types;
    s.bos = read_id(g, "tokenizer.ggml.bos_token_id"), s.eos = read_id(g, "tokenizer.ggml.eos_token_id");
    s.unk = read_id(g, "tokenizer.ggml.unknown_token_id"), s.pad = read_id(g, "tokenizer.ggml.padding_token_id");
    s.eot = -1;
    assert_int_equal(flm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &s.add_bos, NULL), FLM_OK);
    s.add_space_prefix = space_prefix;
    struct flm_vocab *v = NULL;
    struct flm_err    err = {0};
    if (flm_vocab_init(&v, &s, &err) != FLM_OK) fail_msg("%s", err.msg);
    free(a.tok), free(a.tok_len), free(a.mer), free(a.mer_len), free(a.scores), free(a.types);
    flm_gguf_close(g);  // the vocabulary keeps its own copies
    return v;
}

static void test_cases_variants(void **state) {
    (void)state;
    static const char *pres[] = {"llama-bpe", "qwen2", "default", "gpt-2"};
    int n_bad = 0;
    for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) {
        struct flm_vocab *v = load_variant(&models[0], pres[k], false);
        if (!v) skip();
        char name[64];
        snprintf(name, sizeof name, "smollm2-%s", pres[k]);
        n_bad += check_case_file(v, "cases", name);
        flm_vocab_free(v);
    }
    struct flm_vocab *v = load_variant(&models[1], NULL, true);
    if (!v) skip();
    n_bad += check_case_file(v, "cases", "gemma3-space-prefix");
    flm_vocab_free(v);
    assert_int_equal(n_bad, 0);
}

// ---------------------------------------------------------------- attributes and EOG

static void check_attrs(const struct model_case *m) {
    struct flm_gguf  *g = NULL;
    struct flm_vocab *v = load(m, &g, NULL);
    if (!v) skip();
    size_t   len;
    char    *file = fixture("attrs", m->name, &len);
    int32_t  n = flm_vocab_n_tokens(v);
    uint32_t *want = malloc((size_t)n * sizeof *want);
    bool     *eog = calloc((size_t)n, 1);
    for (int32_t i = 0; i < n; i++) want[i] = 4;  // NORMAL
    char *save = NULL;
    for (char *line = strtok_r(file, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fs = NULL, *w = strtok_r(line, " ", &fs);
        if (strcmp(w, "eog") == 0) {
            for (char *t = strtok_r(NULL, " ", &fs); t; t = strtok_r(NULL, " ", &fs)) eog[atoi(t)] = true;
        } else if (strcmp(w, "attr") == 0) {
            uint32_t a = (uint32_t)atoi(strtok_r(NULL, " ", &fs));
            int32_t  first = atoi(strtok_r(NULL, " ", &fs)), last = atoi(strtok_r(NULL, " ", &fs));
            for (int32_t i = first; i <= last; i++) want[i] = a;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        if (flm_vocab_attr(v, i) != want[i]) fail_msg("%s: token %d attr %u, llama.cpp %u", m->name, i, flm_vocab_attr(v, i), want[i]);
        if (flm_vocab_is_eog(v, i) != eog[i]) fail_msg("%s: token %d eog %d, llama.cpp %d", m->name, i, flm_vocab_is_eog(v, i), eog[i]);
    }
    assert_false(flm_vocab_is_eog(v, -1));
    assert_false(flm_vocab_is_eog(v, n));
    free(file), free(want), free(eog);
    flm_vocab_free(v);
    flm_gguf_close(g);
}

static void test_attrs_smollm2(void **state) {
    (void)state;
    check_attrs(&models[0]);
}
static void test_attrs_gemma3(void **state) {
    (void)state;
    check_attrs(&models[1]);
}

// ---------------------------------------------------------------- GPL-3, speed, round trip

static void check_gpl3(const struct model_case *m) {
    size_t text_len;
    char  *text = read_file("/usr/share/common-licenses/GPL-3", &text_len);
    if (!text) skip();
    struct flm_gguf  *g = NULL;
    double            load_s = 0;
    struct flm_vocab *v = load(m, &g, &load_s);
    if (!v) {
        free(text);
        skip();
    }
    size_t   len;
    char    *file = fixture("gpl3", m->name, &len);
    int32_t *want = malloc((len / 2 + 1) * sizeof *want), n_want = 0;
    char    *save = NULL;
    for (char *line = strtok_r(file, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *fs = NULL;
        for (char *t = strtok_r(line, " ", &fs); t; t = strtok_r(NULL, " ", &fs)) want[n_want++] = atoi(t);
    }
    assert_true(n_want > 5000);
    double t0 = now_s();
    assert_true(same_ids(v, text, text_len, true, false, want, n_want, m->name));
    double tok_s = now_s() - t0;
    fprintf(stderr, "%s: vocab load %.3f s, GPL-3 (%zu bytes, %d ids) tokenized in %.3f s\n", m->name, load_s,
            text_len, n_want, tok_s);
    // Generous bounds so sanitizer builds pass; the optimized build is far below.
    assert_true(load_s < 2.0);
    assert_true(tok_s < 2.0);

    // Round trip: the pieces of the ids give back the text (BOS renders empty).
    char  *back = malloc(64 * text_len);
    size_t n_back = pieces(v, want, n_want, false, back);
    assert_int_equal(n_back, text_len);
    assert_memory_equal(back, text, text_len);
    free(back), free(want), free(file), free(text);
    flm_vocab_free(v);
    flm_gguf_close(g);
}

static void test_gpl3_smollm2(void **state) {
    (void)state;
    check_gpl3(&models[0]);
}
static void test_gpl3_gemma3(void **state) {
    (void)state;
    check_gpl3(&models[1]);
}

// Valid UTF-8 without special-token text or U+2581 survives tokenize + pieces unchanged.
static void test_round_trip(void **state) {
    (void)state;
    static const char *texts[] = {
        "",
        " ",
        "Hello world",
        "  two  spaces   three\t\ttabs\n\n\nnewlines \r\n",
        "don't I'LL 1234567890 3.14",
        "caf\xc3\xa9 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
        "int main(void) {\n    return 0;\n}\n",
        "em\xe2\x80\x83space nbsp\xc2\xa0 zwj\xe2\x80\x8d",  // (U+2581 itself cannot round-trip through SPM)
    };
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        struct flm_gguf  *g = NULL;
        struct flm_vocab *v = load(&models[k], &g, NULL);
        if (!v) skip();
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
            size_t         len = strlen(texts[t]);
            int32_t        ids[512], n = 0;
            struct flm_err err = {0};
            assert_true(flm_utf8_valid(texts[t], len));
            assert_int_equal(flm_vocab_tokenize(v, texts[t], len, true, false, ids, 512, &n, &err), FLM_OK);
            char   back[4096];
            size_t n_back = pieces(v, ids, n, false, back);
            if (n_back != len || memcmp(back, texts[t], len) != 0)
                fail_msg("%s: round trip of text %zu gives '%.*s'", models[k].name, t, (int)n_back, back);
        }
        flm_vocab_free(v);
        flm_gguf_close(g);
    }
}

// The output buffer contract: too small -> FLM_ERR_INVALID with the needed count.
static void test_buffer_too_small(void **state) {
    (void)state;
    struct flm_gguf  *g = NULL;
    struct flm_vocab *v = load(&models[0], &g, NULL);
    if (!v) skip();
    const char    *s = "Hello world, this needs several tokens.";
    int32_t        all[64], few[3], n = 0, n2 = 0;
    struct flm_err err = {0};
    assert_int_equal(flm_vocab_tokenize(v, s, strlen(s), false, false, all, 64, &n, &err), FLM_OK);
    assert_true(n > 3);
    assert_int_equal(flm_vocab_tokenize(v, s, strlen(s), false, false, few, 3, &n2, &err), FLM_ERR_INVALID);
    assert_int_equal(n2, n);
    assert_memory_equal(few, all, sizeof few);
    assert_int_equal(flm_vocab_tokenize(v, s, strlen(s), false, false, NULL, 0, &n2, &err), FLM_ERR_INVALID);
    assert_int_equal(n2, n);
    flm_vocab_free(v);
    flm_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_smollm2), cmocka_unit_test(test_cases_gemma3),
        cmocka_unit_test(test_cases_variants),
        cmocka_unit_test(test_attrs_smollm2), cmocka_unit_test(test_attrs_gemma3),
        cmocka_unit_test(test_gpl3_smollm2),  cmocka_unit_test(test_gpl3_gemma3),
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
