// ggml_ref_test.c - the oracles against llama.cpp itself: the fixture
// tests/fixtures/quant/ggml.txt holds what llama.cpp's ggml libraries
// (scripts/refs/ggml_quant_refs.py) compute on fixed inputs:
//   - weight quantizer bytes (quantize_row_<t>_ref): ours must be identical;
//   - activation quantizer bytes, portable (quantize_row_<vdt>_ref) and the
//     CPU backend's own (the x86 SIMD one): identical to our _ref and _x86_ref;
//   - the scalar generic dot: ours sums in the same order (one FMA apart);
//   - the CPU backend's SIMD dot: ours within float summation-order noise.
#include "fixture.h"
#include "quant_test_util.h"

#include <math.h>

enum { MAX_CASES = 16, MAX_INPUTS = 8 };

struct input {
    char   name[16];
    float *v;
    int    n;
};

struct ggml_case {
    enum flm_type t, vdt;
    int           n;
    const float  *x, *y;
    uint8_t      *qx, *qy_ref, *qy_cpu;
    size_t        n_qx, n_qy;
    float         dot_generic, dot_cpu;
};

struct fixture {
    bool             x86;  // the ggml build that wrote the fixture used the AVX2 quantizers
    struct input     inputs[MAX_INPUTS];
    int              n_inputs;
    struct ggml_case cases[MAX_CASES];
    int              n_cases;
};

static const float *find_input(struct fixture *fx, const char *name, int n) {
    for (int i = 0; i < fx->n_inputs; ++i) {
        if (strcmp(fx->inputs[i].name, name) == 0 && fx->inputs[i].n == n) return fx->inputs[i].v;
    }
    print_error("fixture: no input %s of %d values\n", name, n);
    fail();
    return NULL;
}

static uint8_t *expect_hex(struct qf_reader *r, const char *kw, size_t want) {
    qf_expect(r, kw, 2);
    size_t n;
    uint8_t *b = qf_hex(r->tok[1], &n);
    assert_int_equal(n, want);
    return b;
}

static int setup(void **state) {
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    struct qf_reader r;
    qf_open(&r, "ggml.txt");
    while (qf_next(&r)) {
        if (strcmp(r.tok[0], "cpu") == 0) {
            for (int i = 1; i < r.n_tok; ++i) fx->x86 |= strcmp(r.tok[i], "avx2") == 0 || strcmp(r.tok[i], "avx") == 0;
        } else if (strcmp(r.tok[0], "input") == 0) {
            assert_true(fx->n_inputs < MAX_INPUTS);
            struct input *in = &fx->inputs[fx->n_inputs++];
            snprintf(in->name, sizeof in->name, "%s", r.tok[1]);
            in->n = atoi(r.tok[2]);
            in->v = qf_floats(&r, 3, in->n);
        } else if (strcmp(r.tok[0], "case") == 0) {
            assert_true(fx->n_cases < MAX_CASES);
            struct ggml_case *c = &fx->cases[fx->n_cases++];
            c->t = qf_type(r.tok[1]);
            c->vdt = qf_type(r.tok[2]);
            c->n = atoi(r.tok[3]);
            char xname[16], yname[16];
            snprintf(xname, sizeof xname, "%s", r.tok[4]);
            snprintf(yname, sizeof yname, "%s", r.tok[5]);
            c->x = find_input(fx, xname, c->n);
            c->y = find_input(fx, yname, c->n);
            c->n_qx = flm_type_row_size(c->t, c->n);
            c->n_qy = flm_type_row_size(c->vdt, c->n);
            c->qx = expect_hex(&r, "qx", c->n_qx);
            c->qy_ref = expect_hex(&r, "qy_ref", c->n_qy);
            c->qy_cpu = expect_hex(&r, "qy_cpu", c->n_qy);
            qf_expect(&r, "dot_generic", 2);
            c->dot_generic = strtof(r.tok[1], NULL);
            qf_expect(&r, "dot_cpu", 2);
            c->dot_cpu = strtof(r.tok[1], NULL);
        }
    }
    qf_close(&r);
    assert_int_equal(fx->n_cases, 10);  // every weight type of quant.h with a dot
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    struct fixture *fx = *state;
    for (int i = 0; i < fx->n_inputs; ++i) free(fx->inputs[i].v);
    for (int i = 0; i < fx->n_cases; ++i) free(fx->cases[i].qx), free(fx->cases[i].qy_ref), free(fx->cases[i].qy_cpu);
    free(fx);
    return 0;
}

// Compares quantized bytes, naming the first differing block and byte.
static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t n, enum flm_type t, const char *what) {
    const struct flm_type_layout *l = flm_type_layout(t);
    for (size_t i = 0; i < n; ++i) {
        if (got[i] != want[i]) {
            print_error("%s %s: block %zu byte %zu is %02x, llama.cpp wrote %02x\n", l->name, what, i / l->type_size,
                        i % l->type_size, got[i], want[i]);
            fail();
        }
    }
}

static void test_weight_quantizers(void **state) {
    struct fixture *fx = *state;
    for (int i = 0; i < fx->n_cases; ++i) {
        const struct ggml_case *c = &fx->cases[i];
        uint8_t *q = qt_alloc_row(c->t, c->n);
        flm_quant_traits(c->t)->from_float(c->x, q, c->n);
        expect_bytes(q, c->qx, c->n_qx, c->t, "quantize_ref");
        free(q);
    }
}

static void test_activation_quantizers(void **state) {
    struct fixture *fx = *state;
    for (int i = 0; i < fx->n_cases; ++i) {
        const struct ggml_case *c = &fx->cases[i];
        uint8_t *q = qt_alloc_row(c->vdt, c->n);
        flm_quant_traits(c->vdt)->from_float(c->y, q, c->n);
        expect_bytes(q, c->qy_ref, c->n_qy, c->vdt, "portable activation quantizer");
        if (c->vdt == FLM_TYPE_Q8_K) {
            expect_bytes(q, c->qy_cpu, c->n_qy, c->vdt, "CPU backend activation quantizer");
        } else if (fx->x86) {
            (c->vdt == FLM_TYPE_Q8_0 ? flm_q8_0_quantize_x86_ref : flm_q8_1_quantize_x86_ref)(c->y, q, c->n);
            expect_bytes(q, c->qy_cpu, c->n_qy, c->vdt, "x86 activation quantizer");
        }
        free(q);
    }
}

// sum |x_i y_i| of the dequantized rows: the scale of float summation noise.
static double dot_magnitude(const struct ggml_case *c, const void *qy) {
    float *xd = malloc((size_t)c->n * sizeof(float)), *yd = malloc((size_t)c->n * sizeof(float));
    assert_true(xd && yd);
    flm_quant_traits(c->t)->to_float(c->qx, xd, c->n);
    flm_quant_traits(c->vdt)->to_float(qy, yd, c->n);
    double mag = 0;
    for (int i = 0; i < c->n; ++i) mag += fabs((double)xd[i] * yd[i]);
    free(xd), free(yd);
    return mag;
}

#define TOL_DOT_SIMD 2e-6  // SIMD vs scalar summation order, relative to sum |x y|

// ggml's generic dots sum in the same order as ours, but llama.cpp builds
// them in GNU C mode, where GCC contracts a * b - c * d into a fused
// multiply-add (we never do: see quant/qround.h). That changes one rounding
// per block: at the time of writing only q2_K's result differed (by 1 ulp);
// all other types matched bit for bit.
#define TOL_DOT_GENERIC 1e-7

static void test_dots(void **state) {
    struct fixture *fx = *state;
    for (int i = 0; i < fx->n_cases; ++i) {
        const struct ggml_case *c = &fx->cases[i];
        const char *name = flm_type_layout(c->t)->name;
        flm_vec_dot_fn dot = flm_quant_traits(c->t)->vec_dot;
        float s = NAN;
        dot(c->n, &s, c->qx, c->qy_ref);
        const double tol_generic = TOL_DOT_GENERIC * dot_magnitude(c, c->qy_ref);
        if (!isnan(c->dot_generic) && !(fabs((double)s - c->dot_generic) <= tol_generic)) {
            print_error("%s: vec_dot_ref %.9g, ggml generic %.9g, |diff| %.3g > %.3g\n", name, s, c->dot_generic,
                        fabs((double)s - c->dot_generic), tol_generic);
            fail();
        }
        dot(c->n, &s, c->qx, c->qy_cpu);
        const double tol = TOL_DOT_SIMD * dot_magnitude(c, c->qy_cpu);
        if (!(fabs((double)s - c->dot_cpu) <= tol)) {
            print_error("%s: vec_dot_ref %.9g, ggml CPU backend %.9g, |diff| %.3g > %.3g\n", name, s, c->dot_cpu,
                        fabs((double)s - c->dot_cpu), tol);
            fail();
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_quantizers),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_dots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
