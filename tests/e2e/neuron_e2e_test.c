// neuron_e2e_test.c - sparse FFN reads through the weight store on a
// calibrated, bundled SmolLM2 (made here with flashlm calibrate and convert
// --bundle): under a memory budget a sparse context reads live neurons'
// bundles through the neuron cache and gives, token after token, the very
// logits of the same file in memory at the same level (with and without a
// window, and at the least budget the sparse context accepts); for the
// layers the cache serves it reads fewer bytes per token than their up and
// down matrices, which the dense stream reads (the whole token need not read
// less: the caches take memory that pins whole layers in the dense plan);
// the counters add up; a second context at another level, or dense, is
// refused.
#include "e2e/cli_util.h"

#include "flashlm.h"

#include <sys/stat.h>

#define SMOL     "SmolLM2-135M-Instruct.Q4_1.gguf"
#define CAL_TEXT "/usr/share/common-licenses/GPL-2"
#define N_VOCAB  49152
#define N_GEN    12

static char bundled[320];

static int setup(void **state) {
    if (cli_setup(state)) return -1;
    const char *m = flm_test_model(SMOL);
    if (!m) return 0;
    char args[1024], cal[300], *msg;
    snprintf(cal, sizeof cal, "%s/cal.gguf", tmpdir);
    const int n_tok = getenv("FLM_SANITIZED") ? 64 : 192;
    snprintf(args, sizeof args, "calibrate -m %s -f %s -o %s --tokens %d -c %d --levels 30,50", m, CAL_TEXT, cal,
             n_tok, n_tok / 3);
    int rc = run_cli(args, &msg);
    if (rc) fprintf(stderr, "calibrate failed (%d): %s\n", rc, msg);
    free(msg);
    if (rc) return -1;
    snprintf(bundled, sizeof bundled, "%s/cal.bundle.gguf", tmpdir);
    snprintf(args, sizeof args, "convert --bundle %s %s", cal, bundled);
    rc = run_cli(args, &msg);
    if (rc) fprintf(stderr, "convert failed (%d): %s\n", rc, msg);
    free(msg);
    return rc ? -1 : 0;
}

struct run {
    float   *logits;  // [1 + N_GEN][N_VOCAB]: after the prompt, then after each generated token
    uint64_t gen_bytes, gen_lookups, gen_hits, gen_neuron_bytes;  // over the generated tokens
    struct flm_model_io io;                      // at the end
};

static uint64_t file_size(const char *p) {
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return (uint64_t)sb.st_size;
}

// Prompt, then N_GEN greedy tokens one at a time; FLM_ERR_NOMEM when the budget is refused.
static flm_status run_model(const char *path, uint64_t budget, float sparsity, int32_t window, struct run *r) {
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = budget;
    struct flm_model *m;
    if (flm_model_open(&m, path, &mp, &err)) fail_msg("%s", err.msg);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 128;
    cp.n_batch = 32;
    cp.n_threads = 2;
    cp.sparsity = sparsity;
    cp.sparse_window = window;
    struct flm_context *c;
    flm_status st = flm_context_init(&c, m, &cp, &err);
    if (st) {
        flm_model_free(m);
        return st;
    }
    const char *text = "The GNU General Public License is a free, copyleft license for";
    int32_t toks[64], n;
    assert_int_equal(flm_tokenize(m, text, strlen(text), true, false, toks, 64, &n, &err), FLM_OK);
    if (flm_eval(c, toks, n, false, &err)) fail_msg("%s", err.msg);
    memcpy(r->logits, flm_get_logits(c, -1), sizeof(float) * N_VOCAB);
    struct flm_model_io a;
    flm_model_get_io(m, &a);
    for (int i = 0; i < N_GEN; i++) {
        const float *l = flm_get_logits(c, -1);
        int32_t best = 0;
        for (int32_t v = 1; v < N_VOCAB; v++) best = l[v] > l[best] ? v : best;
        if (flm_eval(c, &best, 1, false, &err)) fail_msg("%s", err.msg);
        memcpy(r->logits + (size_t)(i + 1) * N_VOCAB, flm_get_logits(c, -1), sizeof(float) * N_VOCAB);
    }
    flm_model_get_io(m, &r->io);
    r->gen_bytes = r->io.bytes_read - a.bytes_read;
    r->gen_lookups = r->io.neuron_lookups - a.neuron_lookups;
    r->gen_hits = r->io.neuron_hits - a.neuron_hits;
    r->gen_neuron_bytes = r->io.neuron_bytes_read - a.neuron_bytes_read;
    flm_context_free(c);
    flm_model_free(m);
    return FLM_OK;
}

static struct run *new_run(void) {
    struct run *r = calloc(1, sizeof *r);
    r->logits = malloc(sizeof(float) * N_VOCAB * (1 + N_GEN));
    return r;
}

static void free_run(struct run *r) {
    free(r->logits);
    free(r);
}

static void same_logits(const struct run *a, const struct run *b, const char *what) {
    for (int i = 0; i <= N_GEN; i++)
        if (memcmp(a->logits + (size_t)i * N_VOCAB, b->logits + (size_t)i * N_VOCAB, sizeof(float) * N_VOCAB))
            fail_msg("%s: logits differ from the in-memory run at step %d", what, i);
}

// The least budget (in MiB steps from lo) that the sparse context accepts.
static uint64_t least_budget(uint64_t lo, struct run *r) {
    for (uint64_t b = lo;; b += 1 << 20) {
        const flm_status st = run_model(bundled, b, 50, 0, r);
        if (st == FLM_OK) return b;
        assert_int_equal(st, FLM_ERR_NOMEM);
        assert_true(b < file_size(bundled));
    }
}

static void test_identical_under_budget(void **state) {
    (void)state;
    if (!bundled[0]) skip();
    struct run *mem = new_run(), *half = new_run(), *win = new_run(), *tight = new_run();
    assert_int_equal(run_model(bundled, 0, 50, 0, mem), FLM_OK);
    assert_true(mem->io.cache_hit_rate < 0);  // no budget, no neuron cache
    const uint64_t budget = file_size(bundled) / 2;
    assert_int_equal(run_model(bundled, budget, 50, 0, half), FLM_OK);
    printf("  50%% budget: capacity %d, cache %.1f MiB, hit rate %.3f, %.1f MiB read per generated token\n",
           half->io.neuron_capacity, half->io.neuron_cache_bytes / 1048576.0, half->io.cache_hit_rate,
           half->gen_bytes / 1048576.0 / N_GEN);
    assert_true(half->io.neuron_capacity > 0 && half->io.neuron_lookups > 0);
    assert_true(half->io.neuron_hits <= half->io.neuron_lookups && half->io.neuron_bytes_read > 0);
    assert_true(half->io.neuron_bytes_read % 4096 == 0);  // aligned requests only
    assert_true(half->io.cache_hit_rate > 0 && half->io.cache_hit_rate < 1);
    assert_true(half->gen_hits > 0);  // later tokens find neurons of earlier ones
    same_logits(mem, half, "50% budget");
    assert_int_equal(run_model(bundled, budget, 50, 2, win), FLM_OK);
    same_logits(mem, win, "50% budget, window 2");
    // a window of 2 tokens keeps fewer neurons than the capacity allows
    assert_true((double)win->gen_hits / win->gen_lookups < (double)half->gen_hits / half->gen_lookups);
    // the least budget: caches shrunk far under a token's live neurons, which are fetched in parts
    const uint64_t least = least_budget(file_size(bundled) / 8, tight);
    printf("  least budget %.1f MiB: capacity %d, hit rate %.3f\n", least / 1048576.0, tight->io.neuron_capacity,
           tight->io.cache_hit_rate);
    assert_true(tight->io.neuron_capacity < 700);  // under the level's mean live count (about 770 of 1536)
    same_logits(mem, tight, "least budget");
    free_run(mem), free_run(half), free_run(win), free_run(tight);
}

static void test_fewer_bytes_than_dense(void **state) {
    (void)state;
    if (!bundled[0]) skip();
    struct run *dense = new_run(), *sparse = new_run();
    const uint64_t budget = file_size(bundled) / 2;
    assert_int_equal(run_model(bundled, budget, 0, 0, dense), FLM_OK);
    assert_int_equal(run_model(bundled, budget, 50, 0, sparse), FLM_OK);
    // the cache-served layers' up and down as the dense stream reads them
    const double up_down = 2.0 * 1536 * 360 * sparse->io.neuron_layers;  // Q4_1 rows of 576: 360 bytes
    const double neuron = (double)sparse->gen_neuron_bytes / N_GEN;
    printf("  per generated token: dense %.1f MiB, sparse 50%% %.1f MiB, of which %.1f MiB neuron reads for %d "
           "layers whose up and down are %.1f MiB\n",
           dense->gen_bytes / 1048576.0 / N_GEN, sparse->gen_bytes / 1048576.0 / N_GEN, neuron / 1048576.0,
           sparse->io.neuron_layers, up_down / 1048576.0);
    assert_true(dense->io.cache_hit_rate < 0 && dense->io.neuron_lookups == 0);
    assert_true(sparse->io.neuron_layers > 0 && neuron < up_down);
    free_run(dense), free_run(sparse);
}

static void test_other_level_refused(void **state) {
    (void)state;
    if (!bundled[0]) skip();
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = file_size(bundled) / 2;
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, bundled, &mp, &err), FLM_OK);
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    cp.sparsity = 50;
    struct flm_context *a, *b;
    assert_int_equal(flm_context_init(&a, m, &cp, &err), FLM_OK);
    cp.sparsity = 30;
    assert_int_equal(flm_context_init(&b, m, &cp, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sparsity 50%"));
    assert_non_null(strstr(err.msg, "at sparsity 30%"));
    cp.sparsity = 0;
    assert_int_equal(flm_context_init(&b, m, &cp, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "a dense context"));
    cp.sparsity = 0.5f;  // the same level, as a fraction: not refused (the first context took the budget's room)
    const flm_status st = flm_context_init(&b, m, &cp, &err);
    assert_true(st == FLM_OK || st == FLM_ERR_NOMEM);
    if (st == FLM_OK) flm_context_free(b);
    flm_context_free(a);
    flm_model_free(m);
    // without a budget any level goes
    assert_int_equal(flm_model_open(&m, bundled, NULL, &err), FLM_OK);
    cp.sparsity = 50;
    assert_int_equal(flm_context_init(&a, m, &cp, &err), FLM_OK);
    cp.sparsity = 0;
    assert_int_equal(flm_context_init(&b, m, &cp, &err), FLM_OK);
    flm_context_free(b);
    flm_context_free(a);
    flm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_identical_under_budget),
                                       cmocka_unit_test(test_fewer_bytes_than_dense),
                                       cmocka_unit_test(test_other_level_refused)};
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
