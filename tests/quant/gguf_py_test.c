// gguf_py_test.c - the oracles against gguf-py, the numpy implementation of
// the block formats that ships with llama.cpp (fixtures written by
// scripts/refs/quant_refs.py):
//   synthetic.txt  random blocks of every format and their decoded values;
//                  random rows and gguf-py's quantized bytes (legacy formats);
//   smollm2.txt, gemma3.txt  rows of the real models' tensors (Q4_1, Q8_0,
//                  Q5_0, Q4_K, Q6_K, F32), read here through format/gguf.h;
//                  skipped when the model files are absent.
#include "fixture.h"
#include "quant_test_util.h"

#include "format/gguf.h"

#include <math.h>

// Float equality that also accepts -0 == 0; gguf-py and we compute the same
// IEEE products in the same order, so no tolerance is needed.
static void expect_values(const float *got, const float *want, int n, const char *what) {
    for (int i = 0; i < n; ++i) {
        if (got[i] != want[i]) {
            print_error("%s: element %d is %.9g, gguf-py decoded %.9g\n", what, i, got[i], want[i]);
            fail();
        }
    }
}

static void test_synthetic_blocks(void **state) {
    (void)state;
    struct qf_reader r;
    qf_open(&r, "synthetic.txt");
    int n_dequant = 0, n_quant = 0;
    while (qf_next(&r)) {
        if (strcmp(r.tok[0], "dequant") == 0) {
            const enum flm_type t = qf_type(r.tok[1]);
            const int n = atoi(r.tok[2]);
            size_t nb;
            uint8_t *blocks = qf_hex(r.tok[3], &nb);
            assert_int_equal(nb, flm_type_row_size(t, n));
            qf_expect(&r, "values", n + 1);
            float *want = qf_floats(&r, 1, n), *got = malloc((size_t)n * sizeof(float));
            assert_non_null(got);
            flm_quant_traits(t)->to_float(blocks, got, n);
            expect_values(got, want, n, flm_type_layout(t)->name);
            free(blocks), free(want), free(got);
            ++n_dequant;
        } else if (strcmp(r.tok[0], "quant") == 0) {
            const enum flm_type t = qf_type(r.tok[1]);
            const int n = atoi(r.tok[2]);
            float *x = qf_floats(&r, 3, n);
            qf_expect(&r, "bytes", 2);
            size_t nb;
            uint8_t *want = qf_hex(r.tok[1], &nb);
            assert_int_equal(nb, flm_type_row_size(t, n));
            uint8_t *got = qt_alloc_row(t, n);
            flm_quant_traits(t)->from_float(x, got, n);
            for (size_t i = 0; i < nb; ++i) {
                if (got[i] != want[i]) {
                    print_error("%s quantize: byte %zu is %02x, gguf-py wrote %02x\n", flm_type_layout(t)->name, i,
                                got[i], want[i]);
                    fail();
                }
            }
            free(x), free(want), free(got);
            ++n_quant;
        }
    }
    qf_close(&r);
    assert_int_equal(n_dequant, 10);  // q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K
    assert_int_equal(n_quant, 5);
}

// Checks every "tensor" record of a model fixture against the model's bytes.
static void check_model_rows(const char *fixture) {
    struct qf_reader r;
    qf_open(&r, fixture);
    qf_expect(&r, "model", 2);
    const char *path = flm_test_model(r.tok[1]);
    if (!path) {
        qf_close(&r);
        skip();
    }
    struct flm_gguf *g = NULL;
    struct flm_err err = {0};
    if (flm_gguf_open(&g, path, 0, &err) != FLM_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    int n_rows = 0;
    while (qf_next(&r)) {
        assert_string_equal(r.tok[0], "tensor");
        assert_true(r.n_tok >= 7);
        const struct flm_gguf_tensor *t = flm_gguf_find_tensor(g, r.tok[1]);
        assert_non_null(t);
        assert_int_equal(t->type, qf_type(r.tok[2]));
        const int64_t ne0 = atoll(r.tok[3]), row = atoll(r.tok[4]);
        const uint64_t file_off = strtoull(r.tok[5], NULL, 10);
        const int n = atoi(r.tok[6]);
        assert_int_equal(t->ne[0], ne0);
        const size_t row_size = flm_type_row_size(t->type, ne0);
        // the row gguf-py read is the row we read
        assert_int_equal(flm_gguf_data_offset(g) + t->offset + (uint64_t)row * row_size, file_off);
        assert_true((uint64_t)(row + 1) * row_size <= t->nbytes);
        char what[256];
        snprintf(what, sizeof what, "%s row %lld", r.tok[1], (long long)row);
        qf_expect(&r, "values", n + 1);
        float *want = qf_floats(&r, 1, n), *got = malloc((size_t)ne0 * sizeof(float));
        assert_non_null(got);
        const struct flm_type_traits *tr = flm_quant_traits(t->type);
        assert_non_null(tr);
        tr->to_float((const uint8_t *)t->data + row * row_size, got, ne0);
        expect_values(got, want, n, what);
        free(want), free(got);
        ++n_rows;
    }
    assert_true(n_rows > 0);
    flm_gguf_close(g);
    qf_close(&r);
}

static void test_smollm2_rows(void **state) {
    (void)state;
    check_model_rows("smollm2.txt");
}

static void test_gemma3_rows(void **state) {
    (void)state;
    check_model_rows("gemma3.txt");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_blocks),
        cmocka_unit_test(test_smollm2_rows),
        cmocka_unit_test(test_gemma3_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
