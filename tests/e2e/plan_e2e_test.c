// plan_e2e_test.c - `flashlm plan`'s residency on real models: the store's
// dry run chooses what a real commit chooses (pinned bytes, slot size,
// slots, bytes streamed, every tensor's residency, the accountant's total)
// at several budgets and refuses a budget too small with the commit's own
// message; it leaves the store as it was (also after tight plans that cut
// the LM head smaller); without a budget everything is resident; a whole
// plan's rows add up to what the store streams; flm_plan_model refuses a
// budget too small with the minimum. No timing assertions.
#include "test_util.h"

#include "model/context.h"
#include "model/model.h"
#include "plan/plan.h"

#include <string.h>

// ---------------------------------------------------------------- dry run vs commit

static struct flm_context_params ctx_params(void) {
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 64;
    cp.n_batch = 8;
    cp.n_threads = 1;
    cp.n_logits = 1;
    return cp;
}

// Plans at budget, then commits for real (a context) and compares.
static void dry_run_matches(const char *file, uint64_t budget) {
    const char *path = flm_test_model(file);
    if (!path) skip();
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = budget;
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, &mp, &err), FLM_OK);
    const struct flm_context_params cp = ctx_params();
    size_t ctx_bytes = 0;
    assert_int_equal(flm_context_plan_bytes(m, &cp, &ctx_bytes, &err), FLM_OK);
    struct flm_store_plan sp;
    struct flm_budget b;
    const flm_status planned = flm_model_plan_store(m, ctx_bytes, &sp, &b, &err);
    char plan_msg[512];
    snprintf(plan_msg, sizeof plan_msg, "%s", err.msg);
    struct flm_context *ctx = NULL;
    const flm_status real = flm_context_init(&ctx, m, &cp, &err);
    assert_int_equal(planned, real);
    if (real != FLM_OK) {  // refused: the same message, the minimum named
        assert_int_equal(real, FLM_ERR_NOMEM);
        assert_string_equal(plan_msg, err.msg);
        assert_non_null(strstr(err.msg, "needs at minimum"));
        flm_model_free(m);
        return;
    }
    assert_int_equal(flm_context_memory(ctx), ctx_bytes);
    struct flm_model_io io;
    flm_model_get_io(m, &io);
    assert_int_equal(sp.pinned_bytes, io.pinned_bytes);
    assert_int_equal(sp.stream_bytes, io.stream_bytes);
    assert_int_equal(sp.n_slots, io.pool_slots);
    assert_int_equal((uint64_t)sp.n_slots * sp.slot_bytes, io.pool_bytes);
    assert_int_equal(flm_budget_total(&b), io.mem_planned);
    assert_true(flm_budget_total(&b) <= budget);
    for (int i = 0; i < sp.n_tensors; i++)  // every tensor where the commit put it
        if (sp.t[i].cls != FLM_STORE_EMBD) assert_int_equal(sp.t[i].pinned, flm_store_resident(m->store, i) != NULL);
    uint64_t units = 0;
    for (int u = 0; u < sp.n_units; u++) units += sp.units[u].bytes;
    assert_int_equal(units, sp.stream_bytes);
    // the committed store describes itself the same way
    struct flm_store_plan after;
    struct flm_budget b2;
    assert_int_equal(flm_model_plan_store(m, 0, &after, &b2, &err), FLM_OK);
    assert_int_equal(after.pinned_bytes, sp.pinned_bytes);
    assert_int_equal(after.n_slots, sp.n_slots);
    assert_int_equal(after.n_units, sp.n_units);
    flm_store_plan_free(&after);
    flm_store_plan_free(&sp);
    flm_context_free(ctx);
    flm_model_free(m);
}

static void test_dry_run_smollm2(void **state) {
    (void)state;
    const uint64_t M = 1u << 20;
    const uint64_t budgets[] = {20 * M, 24 * M, 30 * M, 47 * M, 60 * M, 80 * M, 200 * M};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++)
        dry_run_matches("SmolLM2-135M-Instruct.Q4_1.gguf", budgets[i]);
}

static void test_dry_run_gemma(void **state) {
    (void)state;
    const uint64_t M = 1u << 20;
    const uint64_t budgets[] = {40 * M, 60 * M, 121 * M, 180 * M};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++)
        dry_run_matches("gemma-3-270m-q4_k_m.gguf", budgets[i]);
}

// The dry run leaves the store as it was: planning at one budget, then
// committing at the model's own budget, gives that budget's choice.
static void test_dry_run_leaves_store(void **state) {
    (void)state;
    const char *path = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!path) skip();
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    mp.mem_budget = 47u << 20;
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, &mp, &err), FLM_OK);
    const struct flm_context_params cp = ctx_params();
    size_t ctx_bytes;
    assert_int_equal(flm_context_plan_bytes(m, &cp, &ctx_bytes, &err), FLM_OK);
    struct flm_store_plan a, b;
    struct flm_budget ba, bb;
    assert_int_equal(flm_model_plan_store(m, ctx_bytes, &a, &ba, &err), FLM_OK);
    assert_int_equal(flm_model_plan_store(m, ctx_bytes + (8u << 20), &b, &bb, &err), FLM_OK);  // less room
    assert_true(b.pinned_bytes < a.pinned_bytes);
    for (uint64_t extra = 20; extra <= 28; extra += 2) {  // tight plans (parts of the head cut smaller), refusals
        struct flm_store_plan t;
        struct flm_budget bt;
        if (flm_model_plan_store(m, ctx_bytes + (extra << 20), &t, &bt, &err) == FLM_OK) flm_store_plan_free(&t);
    }
    struct flm_context *ctx;
    assert_int_equal(flm_context_init(&ctx, m, &cp, &err), FLM_OK);
    struct flm_model_io io;
    flm_model_get_io(m, &io);
    assert_int_equal(io.pinned_bytes, a.pinned_bytes);
    assert_int_equal(io.pool_slots, a.n_slots);
    assert_int_equal(io.pool_bytes, (uint64_t)a.n_slots * a.slot_bytes);
    assert_int_equal(io.stream_bytes, a.stream_bytes);
    flm_store_plan_free(&a), flm_store_plan_free(&b);
    flm_context_free(ctx);
    flm_model_free(m);
}

// Without a budget every tensor is resident and nothing streams.
static void test_dry_run_in_memory(void **state) {
    (void)state;
    const char *path = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!path) skip();
    struct flm_err err = {0};
    struct flm_model *m;
    assert_int_equal(flm_model_open(&m, path, NULL, &err), FLM_OK);
    struct flm_store_plan sp;
    struct flm_budget b;
    assert_int_equal(flm_model_plan_store(m, 1000, &sp, &b, &err), FLM_OK);
    assert_int_equal(sp.n_units, 0);
    assert_int_equal(sp.stream_bytes, 0);
    for (int i = 0; i < sp.n_tensors; i++) assert_true(sp.t[i].pinned);
    flm_store_plan_free(&sp);
    flm_model_free(m);
}

static void test_budget_too_small(void **state) {
    (void)state;
    const char *path = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!path) skip();
    struct flm_plan_params p = flm_plan_params_default();
    p.mem_budget = 20u << 20;
    p.probe_seconds = 0.1;
    struct flm_plan pl;
    struct flm_err err = {0};
    assert_int_equal(flm_plan_model(path, &p, &pl, &err), FLM_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "memory budget 20.0 MiB is below the"));
    assert_non_null(strstr(err.msg, "needs at minimum"));
    assert_null(pl.rows);
}

// A whole plan on a real model: the rows add up to what the store streams.
static void test_plan_model(void **state) {
    (void)state;
    const char *path = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!path) skip();
    struct flm_plan_params p = flm_plan_params_default();
    p.mem_budget = 47u << 20;
    p.n_threads = 1;
    p.probe_seconds = 0.2;
    p.probe_mem_max = 16u << 20;
    struct flm_plan pl;
    struct flm_err err = {0};
    assert_int_equal(flm_plan_model(path, &p, &pl, &err), FLM_OK);
    uint64_t flash = 0;
    for (int g = 0; g < pl.n_rows; g++) flash += pl.rows[g].flash_bytes;
    assert_int_equal(flash, pl.stream_bytes);
    assert_true(pl.tok_s > 0);
    assert_true(pl.disk.n == 5 && pl.memory.n >= 2 && pl.compute.n >= 1);
    assert_true(flm_budget_total(&pl.mem) <= p.mem_budget);
    flm_plan_free(&pl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_smollm2),      cmocka_unit_test(test_dry_run_gemma),
        cmocka_unit_test(test_dry_run_leaves_store), cmocka_unit_test(test_dry_run_in_memory),
        cmocka_unit_test(test_budget_too_small),     cmocka_unit_test(test_plan_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
