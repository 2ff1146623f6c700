// plan_test.c - the cost model's arithmetic on hand-made inputs: the
// store's read pipeline (I/O-bound, compute-bound, balanced, everything held
// in the pool, nothing streamed, pinned and streamed layers mixed), a
// matrix's roofline, and a missing file. The parts on real models (the
// store's dry run against real commits, refusals, a whole plan) are in
// tests/e2e/plan_e2e_test.c. No timing assertions.
#include "test_util.h"

#include "plan/plan.h"

#include <math.h>
#include <string.h>

// ---------------------------------------------------------------- pipeline arithmetic

static void uniform(int n, double compute, double io, int k, struct flm_plan_pipe_result *r) {
    struct flm_plan_step steps[16];
    double ios[16];
    for (int i = 0; i < n; i++) steps[i] = (struct flm_plan_step){compute, i}, ios[i] = io;
    const struct flm_plan_pipe p = {n, steps, n, ios, k, 0, 0};
    flm_plan_pipeline(&p, r);
}

static void test_pipeline_io_bound(void **state) {
    (void)state;
    struct flm_plan_pipe_result r;
    uniform(8, 0.001, 0.010, 2, &r);  // reads 10x the compute: the disk never rests
    assert_true(fabs(r.token_s - 0.080) < 1e-9);
    assert_true(fabs(r.io_s - 0.080) < 1e-9);
    assert_true(fabs(r.compute_s - 0.008) < 1e-12);
    assert_true(fabs(r.io_wait_s - 0.072) < 1e-9);
}

static void test_pipeline_compute_bound(void **state) {
    (void)state;
    struct flm_plan_pipe_result r;
    uniform(8, 0.010, 0.001, 2, &r);  // reads hide behind compute
    assert_true(fabs(r.token_s - 0.080) < 1e-9);
    assert_true(r.io_wait_s < 1e-12);
    assert_true(fabs(r.io_s - 0.008) < 1e-9);
}

static void test_pipeline_balanced(void **state) {
    (void)state;
    struct flm_plan_pipe_result r2, r4;
    uniform(8, 0.005, 0.005, 2, &r2);
    uniform(8, 0.005, 0.005, 4, &r4);
    // neither more than the sum nor less than the larger side; deeper windows never slower
    assert_true(r2.token_s >= 0.040 - 1e-9 && r2.token_s <= 0.080 + 1e-9);
    assert_true(r4.token_s <= r2.token_s + 1e-12);
}

static void test_pipeline_all_held(void **state) {
    (void)state;
    struct flm_plan_pipe_result r;
    uniform(4, 0.002, 0.050, 4, &r);  // as many buffers as units: read once, then kept
    assert_true(r.io_s < 1e-12);
    assert_true(r.io_wait_s < 1e-12);
    assert_true(fabs(r.token_s - 0.008) < 1e-12);
}

static void test_pipeline_nothing_streamed(void **state) {
    (void)state;
    struct flm_plan_step steps[3] = {{0.001, -1}, {0.002, -1}, {0.003, -1}};
    const struct flm_plan_pipe p = {3, steps, 0, NULL, 0, 0.0005, 0};
    struct flm_plan_pipe_result r;
    flm_plan_pipeline(&p, &r);
    assert_true(fabs(r.token_s - 0.0065) < 1e-12);
    assert_true(r.io_s == 0 && r.io_wait_s == 0);
}

// Some layers pinned, some streamed: reads of the streamed ones overlap the pinned ones' compute.
static void test_pipeline_mixed(void **state) {
    (void)state;
    struct flm_plan_step steps[6] = {{0.004, -1}, {0.004, -1}, {0.004, -1}, {0.001, 0}, {0.001, 1}, {0.001, 2}};
    const double io[3] = {0.006, 0.006, 0.006};
    const struct flm_plan_pipe p = {6, steps, 3, io, 2, 0, 0};
    struct flm_plan_pipe_result r;
    flm_plan_pipeline(&p, &r);
    assert_true(r.token_s >= 0.018 - 1e-9);           // the disk needs 18 ms per token
    assert_true(r.token_s < 0.015 + 0.018);           // and overlaps the pinned layers' 12 ms
    assert_true(fabs(r.compute_s - 0.015) < 1e-12);
    assert_true(fabs(r.token_s - r.compute_s - r.io_wait_s) < 1e-9);
}

// ---------------------------------------------------------------- a matrix's roofline

static void test_matmul_roofline(void **state) {
    (void)state;
    struct flm_plan_compute c = {0};
    c.n = 1;
    c.k[0] = (struct flm_plan_kernel){FLM_TYPE_Q8_0, 20e9, 0};
    c.n_timed = 1;
    c.timed[0] = (struct flm_plan_timed){FLM_TYPE_Q8_0, 1024, 1024, 0.0001};
    c.region_s = 1e-6;
    struct flm_mat w = {.type = FLM_TYPE_Q8_0, .n_cols = 1024, .n_rows = 1024, .row_bytes = 1088};
    assert_true(fabs(flm_plan_matmul_s(&c, &w, 0) - 0.0001) < 1e-15);      // the probe's own time
    const double mem = flm_plan_matmul_s(&c, &w, 1e9);                       // memory-bound: 1.1 MB at 1 GB/s
    assert_true(fabs(mem - (1e-6 + 1024.0 * 1088 / 1e9)) < 1e-12);
    w.n_rows = 4096;                                                         // not timed: the type's rate
    assert_true(fabs(flm_plan_matmul_s(&c, &w, 0) - (1e-6 + 4096.0 * 1088 / 20e9)) < 1e-12);
}

// ---------------------------------------------------------------- bad input

static void test_missing_file(void **state) {
    (void)state;
    struct flm_plan pl;
    struct flm_err err = {0};
    const flm_status st = flm_plan_model("/nonexistent/model.gguf", NULL, &pl, &err);
    assert_int_equal(st, FLM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    struct flm_plan_disk d;
    assert_int_equal(flm_plan_probe_disk("/nonexistent/x", NULL, 4, 0.01, &d, &err), FLM_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_io_bound),      cmocka_unit_test(test_pipeline_compute_bound),
        cmocka_unit_test(test_pipeline_balanced),      cmocka_unit_test(test_pipeline_all_held),
        cmocka_unit_test(test_pipeline_nothing_streamed), cmocka_unit_test(test_pipeline_mixed),
        cmocka_unit_test(test_matmul_roofline),        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
