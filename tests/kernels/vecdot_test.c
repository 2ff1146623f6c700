// vecdot_test.c - the SIMD vec_dot variants and their dispatch.
//
// 1. Every x86 variant against llama.cpp's own CPU-backend dot (fixture
//    written by scripts/refs/ggml_simd_refs.py): the float result must be the
//    same bits. (That parity is an x86 property; the AArch64 variants are
//    held to the oracle, part 2.)
// 2. Every variant against the scalar oracle (_ref) on random rows at awkward
//    block counts, within a named tolerance per type relative to sum |x_i*y_i|.
// 3. Dispatch: with FLM_SCALAR set the oracle is used everywhere, otherwise
//    the best variant the CPU runs (checked in fresh child processes, since
//    the choice is frozen at first use; under a cross build's emulator,
//    through it). FLM_EXPECT_ISA=<name> also asserts which level the CPU
//    detection found (the qemu runs use it to prove both AArch64 paths ran).
// Set FLM_VECDOT_BENCH=1 to also print GMAC/s per type and ISA (576x1536).
#include "test_util.h"

#include "core/cpu.h"
#include "core/fp16.h"
#include "kernels/dispatch.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

static const enum flm_type types[] = {FLM_TYPE_Q8_0, FLM_TYPE_Q4_1, FLM_TYPE_Q5_0, FLM_TYPE_Q4_K, FLM_TYPE_Q6_K,
                                      FLM_TYPE_Q4_0, FLM_TYPE_Q5_1, FLM_TYPE_Q5_K, FLM_TYPE_Q3_K, FLM_TYPE_Q2_K};
#define N_TYPES (sizeof types / sizeof types[0])

// Every SIMD level of every architecture: those this build or CPU lacks
// have no variants (flm_kernel_vec_dot_isa gives NULL) and are skipped.
static const enum flm_isa simd_isas[] = {FLM_ISA_AVX2, FLM_ISA_AVX512, FLM_ISA_NEON, FLM_ISA_DOTPROD};

// The variants written to give llama.cpp's bits (its x86 build's order).
static bool llama_order(enum flm_isa isa) { return isa == FLM_ISA_AVX2 || isa == FLM_ISA_AVX512; }

// Allowed |simd - ref| / sum |x_i*y_i|. Both sides sum exact block integers
// in float, in different orders (8 lanes vs ggml's generic order), so the
// difference is a few roundings of partial sums; the types with a min term
// (d*sum - m*s) cancel more and get more room.
static double tolerance(enum flm_type t) {
    switch (t) {
    case FLM_TYPE_Q8_0:
    case FLM_TYPE_Q4_0:
    case FLM_TYPE_Q5_0: return 2e-6;   // TOL_SYMMETRIC
    case FLM_TYPE_Q4_1:
    case FLM_TYPE_Q5_1: return 1e-5;   // TOL_WITH_MIN
    case FLM_TYPE_Q3_K:
    case FLM_TYPE_Q6_K: return 2e-6;   // TOL_K_SYMMETRIC
    case FLM_TYPE_Q2_K:
    case FLM_TYPE_Q4_K:
    case FLM_TYPE_Q5_K: return 1e-5;   // TOL_K_WITH_MIN
    default: return 0;
    }
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

// Distance in units in the last place between two finite floats.
static int64_t ulp_distance(float a, float b) {
    int64_t ia = f32_bits(a), ib = f32_bits(b);
    if (ia & 0x80000000) ia = 0x80000000LL - ia;
    if (ib & 0x80000000) ib = 0x80000000LL - ib;
    return ia > ib ? ia - ib : ib - ia;
}

// ---------------------------------------------------------------- 1. llama.cpp's own results

static uint8_t *hex_bytes(const char *hex, size_t *n) {
    const size_t len = strlen(hex);
    assert_true(len % 2 == 0);
    uint8_t *out = malloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; ++i) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return out;
}

static enum flm_type type_by_name(const char *name) {
    for (uint32_t t = 0; t < FLM_TYPE_COUNT; ++t) {
        const struct flm_type_layout *l = flm_type_layout(t);
        if (l && strcmp(l->name, name) == 0) return (enum flm_type)t;
    }
    fail_msg("unknown type %s", name);
    return FLM_TYPE_COUNT;
}

static void test_ggml_bits(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/kernels/ggml_simd.txt", FLM_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n_cases = 0, n_checked = 0, n_mismatch = 0;
    while (getline(&line, &cap, f) > 0) {
        char *tok[9], *save = NULL;
        int nt = 0;
        for (char *t = strtok_r(line, " \n", &save); t && nt < 9; t = strtok_r(NULL, " \n", &save)) tok[nt++] = t;
        if (nt == 0 || strcmp(tok[0], "case") != 0) continue;
        assert_int_equal(nt, 8);
        const enum flm_type t = type_by_name(tok[1]);
        const int64_t n = strtoll(tok[3], NULL, 10);
        size_t nx, ny;
        uint8_t *qx = hex_bytes(tok[4], &nx), *qy = hex_bytes(tok[5], &ny);
        const struct flm_type_traits *tr = flm_quant_traits(t);
        assert_int_equal(nx, flm_type_row_size(t, n));
        assert_int_equal(ny, flm_type_row_size(tr->vec_dot_type, n));
        const uint32_t want = (uint32_t)strtoul(tok[6], NULL, 16);
        float want_f;
        memcpy(&want_f, &want, 4);
        n_cases++;
        for (size_t k = 0; k < sizeof simd_isas / sizeof simd_isas[0]; ++k) {
            const flm_vec_dot_fn dot = flm_kernel_vec_dot_isa(t, simd_isas[k]);
            if (!dot || !llama_order(simd_isas[k])) continue;
            float got;
            dot(n, &got, qx, qy);
            n_checked++;
            if (f32_bits(got) != want) {
                n_mismatch++;
                print_error("%s %s %s n=%lld: %.9g, llama.cpp %.9g (%lld ulp)\n", flm_isa_name(simd_isas[k]), tok[1],
                            tok[2], (long long)n, got, want_f, (long long)ulp_distance(got, want_f));
            }
        }
        float ref;  // the oracle: close, not equal (another order)
        tr->vec_dot(n, &ref, qx, qy);
        assert_true(fabsf(ref - want_f) <= 1e-4f * (fabsf(want_f) + 1.0f));
        free(qx);
        free(qy);
    }
    free(line);
    fclose(f);
    assert_true(n_cases >= 60);
    print_message("ggml fixture: %d cases, %d variant results, %d not bit-identical\n", n_cases, n_checked,
                  n_mismatch);
    assert_int_equal(n_mismatch, 0);
}

// ---------------------------------------------------------------- 2. against the oracle

struct rows {
    void  *x, *y;      // weight row, activation row (quantized)
    double abs_sum;    // sum |x_i * y_i| of the dequantized rows
};

static void make_rows(enum flm_type t, int64_t n, uint64_t *seed, bool raw_bytes, struct rows *r) {
    const struct flm_type_traits *tr = flm_quant_traits(t), *yt = flm_quant_traits(tr->vec_dot_type);
    float *xf = malloc(sizeof(float) * (size_t)n), *yf = malloc(sizeof(float) * (size_t)n);
    const size_t xb = flm_type_row_size(t, n);
    r->x = malloc(xb);
    r->y = malloc(flm_type_row_size(tr->vec_dot_type, n));
    for (int64_t i = 0; i < n; ++i) {
        xf[i] = flm_test_randf(seed) * (i % 37 == 5 ? 0.2f : 0.05f);
        yf[i] = flm_test_randf(seed) * (i % 29 == 3 ? 12.0f : 2.0f);
    }
    tr->from_float(xf, r->x, n);
    if (raw_bytes) {  // random quants, the quantizer's scales kept
        const struct flm_type_layout *l = flm_type_layout(t);
        uint8_t *b = r->x;
        for (size_t i = 0; i < xb; ++i) {
            const size_t off = i % l->type_size;
            const bool scale_field = (l->blck_size == 32) ? off < (t == FLM_TYPE_Q4_1 || t == FLM_TYPE_Q5_1 ? 4u : 2u)
                                                          : (t == FLM_TYPE_Q4_K || t == FLM_TYPE_Q5_K || t == FLM_TYPE_Q2_K
                                                                 ? (t == FLM_TYPE_Q2_K ? off >= 80 : off < 4)
                                                                 : off >= l->type_size - 2);
            if (!scale_field) b[i] = (uint8_t)flm_test_rand(seed);
            if (t == FLM_TYPE_Q8_0 && !scale_field && b[i] == 0x80) b[i] = 0x81;  // keep -127..127
        }
    }
    flm_quant_act_from_float(tr->vec_dot_type)(yf, r->y, n);
    tr->to_float(r->x, xf, n);
    yt->to_float(r->y, yf, n);
    r->abs_sum = 0;
    for (int64_t i = 0; i < n; ++i) r->abs_sum += fabs((double)xf[i] * yf[i]);
    free(xf);
    free(yf);
}

// Returns 1 when isa has a variant for t here (and it was checked), else 0.
static int check_against_ref(enum flm_type t, enum flm_isa isa, int64_t n, uint64_t *seed, bool raw) {
    const flm_vec_dot_fn dot = flm_kernel_vec_dot_isa(t, isa);
    const flm_vec_dot_fn ref = flm_kernel_vec_dot_isa(t, FLM_ISA_SCALAR);
    assert_non_null(ref);
    if (!dot) return 0;
    struct rows r;
    make_rows(t, n, seed, raw, &r);
    float got, want;
    dot(n, &got, r.x, r.y);
    ref(n, &want, r.x, r.y);
    const double err = fabs((double)got - want) / (r.abs_sum > 0 ? r.abs_sum : 1);
    if (!(err <= tolerance(t))) {
        fail_msg("%s %s n=%lld raw=%d: %.9g vs ref %.9g, rel err %.3g > %.3g", flm_type_layout(t)->name,
                 flm_isa_name(isa), (long long)n, raw, got, want, err, tolerance(t));
    }
    free(r.x);
    free(r.y);
    return 1;
}

static void test_against_ref(void **state) {
    (void)state;
    uint64_t seed = 0x5eed1234;
    int n_checked = 0, n_isas = 0;
    for (size_t i = 0; i < N_TYPES; ++i) {
        const enum flm_type t = types[i];
        const int64_t blck = flm_type_layout(t)->blck_size;
        static const int64_t legacy_blocks[] = {1, 3, 7, 9, 64};
        static const int64_t k_blocks[] = {1, 2, 5, 6};
        const int64_t *counts = blck == 32 ? legacy_blocks : k_blocks;
        const int n_counts = blck == 32 ? 5 : 4;
        for (size_t k = 0; k < sizeof simd_isas / sizeof simd_isas[0]; ++k)
            for (int c = 0; c < n_counts; ++c)
                for (int rep = 0; rep < 4; ++rep) {
                    const int ran = check_against_ref(t, simd_isas[k], counts[c] * blck, &seed, rep & 1);
                    // every type has a variant on every SIMD level this CPU has
                    if (!ran && flm_cpu_has_isa(simd_isas[k]))
                        fail_msg("no %s variant for %s", flm_isa_name(simd_isas[k]), flm_type_layout(t)->name);
                    n_checked += ran;
                }
    }
    for (size_t k = 0; k < sizeof simd_isas / sizeof simd_isas[0]; ++k) n_isas += flm_cpu_has_isa(simd_isas[k]);
    print_message("against the oracle: %d variant results on %d SIMD levels\n", n_checked, n_isas);
}

// The AVX-512 build only changes integer instructions: it must agree with
// the AVX2 build bit for bit; likewise the dotprod build with the NEON one.
static void test_same_bits_per_arch(void **state) {
    (void)state;
    uint64_t seed = 77;
    static const enum flm_isa pairs[][2] = {{FLM_ISA_AVX2, FLM_ISA_AVX512}, {FLM_ISA_NEON, FLM_ISA_DOTPROD}};
    for (size_t i = 0; i < N_TYPES * 2; ++i) {
        const enum flm_type t = types[i % N_TYPES];
        const flm_vec_dot_fn a = flm_kernel_vec_dot_isa(t, pairs[i / N_TYPES][0]);
        const flm_vec_dot_fn b = flm_kernel_vec_dot_isa(t, pairs[i / N_TYPES][1]);
        if (!a || !b) continue;
        const int64_t n = 7 * flm_type_layout(t)->blck_size;
        for (int rep = 0; rep < 8; ++rep) {
            struct rows r;
            make_rows(t, n, &seed, rep & 1, &r);
            float sa, sb;
            a(n, &sa, r.x, r.y);
            b(n, &sb, r.x, r.y);
            assert_int_equal(f32_bits(sa), f32_bits(sb));
            free(r.x);
            free(r.y);
        }
    }
}

// ---------------------------------------------------------------- 3. dispatch

// What flm_kernel_vec_dot(t) must be in a process started with or without
// FLM_SCALAR.
static flm_vec_dot_fn expected(enum flm_type t, bool scalar) {
    if (!scalar) {
        for (int isa = FLM_ISA_COUNT - 1; isa > FLM_ISA_SCALAR; --isa) {
            const flm_vec_dot_fn f = flm_kernel_vec_dot_isa(t, (enum flm_isa)isa);
            if (f) return f;
        }
    }
    return flm_quant_traits(t)->vec_dot;
}

// Runs in the child: 0 when every type dispatches as expected.
static int dispatch_check(bool scalar) {
    if (flm_cpu_features()->force_scalar != scalar) return 2;
    for (size_t i = 0; i < N_TYPES; ++i)
        if (flm_kernel_vec_dot(types[i]) != expected(types[i], scalar)) return 3;
    if (flm_kernel_vec_dot(FLM_TYPE_Q8_K) != NULL || flm_kernel_vec_dot(FLM_TYPE_Q8_1) != NULL) return 4;
    if (flm_kernel_vec_dot(FLM_TYPE_F32) != flm_quant_traits(FLM_TYPE_F32)->vec_dot) return 5;
    return 0;
}

// Re-runs this program with FLM_SCALAR set to value (NULL: unset); in a
// cross build through the emulator that runs the tests (FLM_TEST_EMULATOR,
// qemu-aarch64, which keeps its CPU model through QEMU_CPU in the environment).
static int run_child(const char *value) {
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);  // the emulator answers for the guest
    assert_true(len > 0);
    self[len] = 0;
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (value) setenv("FLM_SCALAR", value, 1);
        else unsetenv("FLM_SCALAR");
        setenv("FLM_VECDOT_CHILD", value && strcmp(value, "0") != 0 ? "scalar" : "simd", 1);
        if (FLM_TEST_EMULATOR[0]) execlp(FLM_TEST_EMULATOR, FLM_TEST_EMULATOR, self, (char *)NULL);
        else execl(self, "vecdot_test", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_dispatch(void **state) {
    (void)state;
    assert_int_equal(run_child(NULL), 0);
    assert_int_equal(run_child("1"), 0);
    assert_int_equal(run_child("0"), 0);
    // this process: consistent with its own environment, and stable
    const bool scalar = flm_cpu_features()->force_scalar;
    for (size_t i = 0; i < N_TYPES; ++i) {
        assert_ptr_equal(flm_kernel_vec_dot(types[i]), expected(types[i], scalar));
        const enum flm_isa isa = flm_kernel_vec_dot_isa_of(types[i]);
        assert_ptr_equal(flm_kernel_vec_dot_isa(types[i], isa), flm_kernel_vec_dot(types[i]));
    }
    assert_null(flm_kernel_vec_dot_isa(FLM_TYPE_Q8_K, FLM_ISA_SCALAR));
    assert_null(flm_kernel_vec_dot((enum flm_type)1000));
#if defined(__x86_64__)
    // The SIMD variants exist exactly when the CPU has the features.
    assert_true((flm_kernel_vec_dot_isa(FLM_TYPE_Q4_K, FLM_ISA_AVX2) != NULL) == flm_cpu_has_isa(FLM_ISA_AVX2));
    assert_true((flm_kernel_vec_dot_isa(FLM_TYPE_Q4_K, FLM_ISA_AVX512) != NULL) == flm_cpu_has_isa(FLM_ISA_AVX512));
#endif
#if defined(__aarch64__)
    // Advanced SIMD is part of every AArch64 Linux system; dotprod is optional.
    assert_true(flm_cpu_has_isa(FLM_ISA_NEON));
    assert_non_null(flm_kernel_vec_dot_isa(FLM_TYPE_Q4_K, FLM_ISA_NEON));
    assert_true((flm_kernel_vec_dot_isa(FLM_TYPE_Q4_K, FLM_ISA_DOTPROD) != NULL) == flm_cpu_has_isa(FLM_ISA_DOTPROD));
#endif
    const char *want = getenv("FLM_EXPECT_ISA");
    if (want && !scalar) assert_string_equal(flm_isa_name(flm_cpu_isa()), want);
    print_message("cpu: best isa %s%s\n", flm_isa_name(flm_cpu_isa()), scalar ? " (FLM_SCALAR)" : "");
}

// ---------------------------------------------------------------- benchmark (on request)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// One pass over a weight matrix of 576x1536 elements (rows of 576 for the
// 32-element formats, of 1536 for the K-quants, which need multiples of 256).
static void bench_type(enum flm_type t) {
    const int64_t k = flm_type_layout(t)->blck_size == 32 ? 576 : 1536, rows = 576 * 1536 / k;
    const struct flm_type_traits *tr = flm_quant_traits(t);
    const size_t rb = flm_type_row_size(t, k);
    char *w = malloc(rb * (size_t)rows);
    uint64_t seed = 1;
    struct rows r;
    make_rows(t, k, &seed, false, &r);
    for (int64_t i = 0; i < rows; ++i) memcpy(w + (size_t)i * rb, r.x, rb);
    printf("  %-5s", flm_type_layout(t)->name);
    for (int isa = FLM_ISA_SCALAR; isa < FLM_ISA_COUNT; ++isa) {
        const flm_vec_dot_fn dot = flm_kernel_vec_dot_isa(t, (enum flm_isa)isa);
        if (!dot) continue;
        float s, acc = 0;
        int reps = 0;
        const double t0 = now_s();
        double t1;
        do {
            for (int64_t i = 0; i < rows; ++i) {
                dot(k, &s, w + (size_t)i * rb, r.y);
                acc += s;
            }
            reps++;
            t1 = now_s();
        } while (t1 - t0 < 0.3);
        printf("  %s %6.2f GMAC/s", flm_isa_name((enum flm_isa)isa), (double)reps * (double)(k * rows) / (t1 - t0) * 1e-9);
        (void)acc;
    }
    printf("\n");
    (void)tr;
    free(w);
    free(r.x);
    free(r.y);
}

static void test_bench(void **state) {
    (void)state;
    if (!getenv("FLM_VECDOT_BENCH")) skip();
    printf("vec_dot, one thread, 576x1536 weights x one activation row:\n");
    for (size_t i = 0; i < N_TYPES; ++i) bench_type(types[i]);
}

int main(void) {
    const char *child = getenv("FLM_VECDOT_CHILD");
    if (child) return dispatch_check(strcmp(child, "scalar") == 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ggml_bits),   cmocka_unit_test(test_against_ref), cmocka_unit_test(test_same_bits_per_arch),
        cmocka_unit_test(test_dispatch),    cmocka_unit_test(test_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
