// perplexity_test.c - perplexity of the GPL-3 text against llama.cpp's
// llama-perplexity numbers (tests/fixtures/e2e/<tag>.ppl.txt): the text must
// tokenize to exactly llama.cpp's tokens, and the running perplexity after
// the first chunks must agree within 0.1%. FLM_PPL_CHUNKS=n sets how many
// chunks of 512 run (default 2; the fixture has all of them).
#include "test_util.h"

#include "e2e/fixture.h"
#include "flashlm.h"

#include <math.h>
#include <string.h>

#define PPL_TOL 1e-3

struct ppl_fix {
    struct fix_ids tokens;
    int32_t        n_chunks;
    double         running[64];  // perplexity after chunk i+1
};

static int load_ppl(struct ppl_fix *p, const char *tag) {
    char path[600], line[8192];
    snprintf(path, sizeof path, "%s/tests/fixtures/e2e/%s.ppl.txt", FLM_SOURCE_DIR, tag);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(p, 0, sizeof *p);
    while (fgets(line, sizeof line, f)) {
        int n, c;
        double nll, ppl;
        if (sscanf(line, "chunk %d %lf %lf", &c, &nll, &ppl) == 3 && c >= 1 && c <= 64) {
            p->running[c - 1] = ppl;
            p->n_chunks = c > p->n_chunks ? c : p->n_chunks;
        } else if (sscanf(line, "tokens %d", &n) == 1 && fix_read_ids(f, line, sizeof line, n, &p->tokens)) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return p->tokens.n > 0 && p->n_chunks > 0 ? 0 : -1;
}

static void run_model(const char *file, const char *tag) {
    const char *path = flm_test_model(file);
    if (!path) skip();
    struct ppl_fix fx = {0};
    assert_int_equal(load_ppl(&fx, tag), 0);
    struct flm_err err = {0};
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, NULL, &err), FLM_OK);

    // the text tokenizes exactly as llama.cpp tokenized it
    FILE *f = fopen("/usr/share/common-licenses/GPL-3", "rb");
    if (!f) skip();
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    int32_t n = 0;
    int32_t *toks = malloc(sizeof(int32_t) * 20000);
    assert_int_equal(flm_tokenize(m, text, len, true, false, toks, 20000, &n, &err), FLM_OK);
    assert_int_equal(n, fx.tokens.n);
    for (int i = 0; i < n; i++)
        if (toks[i] != fx.tokens.v[i]) fail_msg("%s: token %d is %d, llama.cpp has %d", tag, i, toks[i], fx.tokens.v[i]);

    const char *env = getenv("FLM_PPL_CHUNKS");
    int chunks = env ? atoi(env) : 2;
    if (getenv("FLM_SANITIZED")) chunks = 1;
    if (chunks < 1 || chunks > fx.n_chunks) chunks = fx.n_chunks;
    struct flm_context *ctx;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    assert_int_equal(flm_context_init(&ctx, m, &cp, &err), FLM_OK);
    struct flm_ppl_result r;
    if (flm_perplexity(ctx, toks, chunks * 512, 512, NULL, NULL, &r, &err)) fail_msg("perplexity: %s", err.msg);
    const double want = fx.running[chunks - 1];
    printf("%s: perplexity after %d chunks %.6f, llama.cpp %.6f (%+.4f%%)\n", tag, chunks, r.ppl, want,
           100.0 * (r.ppl / want - 1));
    assert_true(fabs(r.ppl / want - 1) <= PPL_TOL);
    free(toks);
    free(fx.tokens.v);
    flm_context_free(ctx);
    flm_model_free(m);
}

static void test_smollm2(void **state) { run_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"); }
static void test_gemma3(void **state) { run_model("gemma-3-270m-q4_k_m.gguf", "gemma3"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
