// budget_test.c - weights streamed under a memory budget give the same bits
// as weights in memory: on each real model, the logits of a prompt (all
// rows) and of every step of a greedy continuation are compared with memcmp
// against the unbudgeted run, at 50% and 25% of the file size and at the
// minimum the accountant names, through both read backends. A budget below
// the minimum is refused at context creation with the minimum in the
// message.
#include "test_util.h"

#include "flashlm.h"

#include <stdio.h>
#include <string.h>

#define N_CTX 256

struct trace {
    int     n_vocab, n_steps, n_prompt;
    float  *prompt_logits;  // [n_prompt][n_vocab]
    float  *step_logits;    // [n_steps][n_vocab]
    int32_t toks[64];
};

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

// Runs the prompt with all logits, then n_steps greedy tokens; FLM_OK or
// the status of the model/context opening (with err).
static flm_status run(const char *path, uint64_t budget, enum flm_io_kind io, int n_steps, struct trace *tr,
                      struct flm_err *err) {
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = budget;
    mp.io = io;
    struct flm_model *m;
    flm_status st = flm_model_open(&m, path, &mp, err);
    if (st) return st;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = N_CTX;
    cp.n_batch = 32;
    cp.n_threads = 2;
    struct flm_context *c;
    if ((st = flm_context_init(&c, m, &cp, err))) {
        flm_model_free(m);
        return st;
    }
    static const char *prompt = "The history of the printing press begins";
    int32_t toks[64];
    int32_t n = 0;
    assert_int_equal(flm_tokenize(m, prompt, strlen(prompt), true, false, toks, 64, &n, err), FLM_OK);
    struct flm_model_info info;
    flm_model_get_info(m, &info);
    tr->n_vocab = info.n_vocab;
    tr->n_prompt = n;
    tr->n_steps = n_steps;
    tr->prompt_logits = malloc(sizeof(float) * (size_t)n * tr->n_vocab);
    tr->step_logits = malloc(sizeof(float) * (size_t)n_steps * tr->n_vocab);
    if (flm_eval(c, toks, n, true, err)) fail_msg("eval: %s", err->msg);
    for (int i = 0; i < n; i++)
        memcpy(tr->prompt_logits + (size_t)i * tr->n_vocab, flm_get_logits(c, i), sizeof(float) * tr->n_vocab);
    int32_t t = argmax(flm_get_logits(c, -1), tr->n_vocab);
    for (int s = 0; s < n_steps; s++) {
        tr->toks[s] = t;
        if (flm_eval(c, &t, 1, false, err)) fail_msg("eval: %s", err->msg);
        memcpy(tr->step_logits + (size_t)s * tr->n_vocab, flm_get_logits(c, -1), sizeof(float) * tr->n_vocab);
        t = argmax(flm_get_logits(c, -1), tr->n_vocab);
    }
    if (budget) {
        struct flm_model_io mi;
        flm_model_get_io(m, &mi);
        assert_true(mi.mem_planned <= budget);
        assert_true(mi.bytes_read > 0);
        assert_true(mi.direct);
        if (io != FLM_IO_AUTO) assert_int_equal(mi.io, io);
        printf("  budget %.1f MiB (%s): pinned %.1f MiB, streamed %.1f MiB/token, %d buffers, read %.1f MiB\n",
               budget / 1048576.0, mi.io == FLM_IO_URING ? "io_uring" : "pread", mi.pinned_bytes / 1048576.0,
               mi.stream_bytes / 1048576.0, mi.pool_slots, mi.bytes_read / 1048576.0);
    }
    flm_context_free(c);
    flm_model_free(m);
    return FLM_OK;
}

static void free_trace(struct trace *t) {
    free(t->prompt_logits);
    free(t->step_logits);
}

static void same(const struct trace *a, const struct trace *b) {
    assert_int_equal(a->n_prompt, b->n_prompt);
    assert_memory_equal(a->prompt_logits, b->prompt_logits, sizeof(float) * (size_t)a->n_prompt * a->n_vocab);
    assert_memory_equal(a->toks, b->toks, sizeof(int32_t) * (size_t)a->n_steps);
    assert_memory_equal(a->step_logits, b->step_logits, sizeof(float) * (size_t)a->n_steps * a->n_vocab);
}

// The minimum named by a refusal: "... below the 86.0 MiB this model needs" (or GiB, or bytes).
static uint64_t named_minimum(const char *msg) {
    const char *p = strstr(msg, "is below the ");
    assert_non_null(p);
    char *unit;
    double v = strtod(p + strlen("is below the "), &unit);
    const double scale = !strncmp(unit, " GiB", 4) ? 1073741824.0 : !strncmp(unit, " bytes", 6) ? 1.0 : 1048576.0;
    return (uint64_t)(v * scale) + (1u << 20);
}

static void check_model(const char *file) {
    const char *path = flm_test_model(file);
    if (!path) skip();
    const int steps = getenv("FLM_SANITIZED") ? 3 : 24;
    struct flm_err err = {0};
    struct trace ref = {0};
    assert_int_equal(run(path, 0, FLM_IO_AUTO, steps, &ref, &err), FLM_OK);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    const uint64_t size = (uint64_t)ftell(f);
    fclose(f);
    const uint64_t budgets[] = {size / 2, size / 4};
    const enum flm_io_kind kinds[] = {FLM_IO_URING, FLM_IO_POSIX};
    uint64_t least = 0;
    for (int i = 0; i < 2; i++) {
        struct trace t = {0};
        flm_status st = run(path, budgets[i], kinds[i], steps, &t, &err);
        if (st == FLM_ERR_UNSUPPORTED && kinds[i] == FLM_IO_URING) {  // no io_uring on this kernel or build
            printf("  io_uring: %s; pread instead\n", err.msg);
            st = run(path, budgets[i], FLM_IO_POSIX, steps, &t, &err);
        }
        if (st == FLM_ERR_NOMEM) {  // refused up front, with the minimum
            printf("  budget %.1f MiB refused: %s\n", budgets[i] / 1048576.0, err.msg);
            assert_non_null(strstr(err.msg, "needs at minimum"));
            least = named_minimum(err.msg);
            continue;
        }
        assert_int_equal(st, FLM_OK);
        same(&ref, &t);
        free_trace(&t);
    }
    if (!least) {  // find the minimum by asking for too little
        struct trace t = {0};
        assert_int_equal(run(path, 1u << 20, FLM_IO_AUTO, steps, &t, &err), FLM_ERR_NOMEM);
        least = named_minimum(err.msg);
    }
    struct trace t = {0};
    assert_int_equal(run(path, least, FLM_IO_AUTO, steps, &t, &err), FLM_OK);
    same(&ref, &t);
    free_trace(&t);
    free_trace(&ref);
}

static void test_smollm2(void **state) { (void)state; check_model("SmolLM2-135M-Instruct.Q4_1.gguf"); }
static void test_gemma3(void **state) { (void)state; check_model("gemma-3-270m-q4_k_m.gguf"); }

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smollm2), cmocka_unit_test(test_gemma3)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
