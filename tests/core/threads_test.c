// threads_test.c - the pool runs every thread index exactly once per call,
// splits cover ranges exactly, and pools of 1 and many threads agree.
#include "test_util.h"

#include "core/threads.h"

#include <stdatomic.h>
#include <string.h>

struct count_arg {
    atomic_int hits[64];
    atomic_int calls;
};

static void count_fn(void *arg, int ith, int nth) {
    struct count_arg *a = arg;
    atomic_fetch_add(&a->hits[ith], 1);
    atomic_fetch_add(&a->calls, nth);
}

static void test_every_thread_runs_once(void **state) {
    (void)state;
    for (int n = 1; n <= 5; n++) {
        struct flm_pool *pool = NULL;
        struct flm_err err;
        assert_int_equal(flm_pool_init(&pool, n, &err), FLM_OK);
        assert_int_equal(flm_pool_size(pool), n);
        for (int rep = 0; rep < 200; rep++) {
            struct count_arg a;
            memset(&a, 0, sizeof a);
            flm_pool_run(pool, count_fn, &a);
            for (int i = 0; i < n; i++) assert_int_equal(atomic_load(&a.hits[i]), 1);
            assert_int_equal(atomic_load(&a.calls), n * n);
        }
        flm_pool_free(pool);
    }
    flm_pool_free(NULL);
}

static void test_split_covers_range(void **state) {
    (void)state;
    const long sizes[] = {0, 1, 2, 7, 64, 1001};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int nth = 1; nth <= 9; nth++) {
            long expect = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                flm_split(sizes[s], i, nth, &lo, &hi);
                assert_int_equal(lo, expect);
                assert_true(hi >= lo && hi - lo <= sizes[s] / nth + 1);
                expect = hi;
            }
            assert_int_equal(expect, sizes[s]);
        }
}

static void test_bad_thread_count(void **state) {
    (void)state;
    struct flm_pool *pool = NULL;
    struct flm_err err = {0};
    assert_int_equal(flm_pool_init(&pool, 100000, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "too many"));
    assert_null(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_runs_once),
        cmocka_unit_test(test_split_covers_range),
        cmocka_unit_test(test_bad_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
