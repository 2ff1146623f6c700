// dispatch.c - the kernel tables and the one-time choice among them.
#include "kernels/dispatch.h"

#include <pthread.h>
#include <stddef.h>

#include "kernels/kq_batch.h"
#include "kernels/q4_K_tiled.h"

#if defined(__x86_64__)
#include "kernels/kq_orders_x86.h"
#include "kernels/q4_0_tiled_x86.h"
#include "kernels/x86/axpy_x86.h"
#include "kernels/x86/vecdot_x86.h"
#endif
#if defined(__aarch64__)
#include "kernels/arm/axpy_arm.h"
#include "kernels/arm/vecdot_arm.h"
#endif

// ---------------------------------------------------------------- what exists, per ISA

struct kernel_set {
    flm_vec_dot_fn  vec_dot;
    flm_vec_dot4_fn vec_dot4;  // NULL where the ISA has no 4-row variant
};

#define X86_SET(isa)                                                       \
    {                                                                      \
        [FLM_TYPE_Q4_0] = {.vec_dot = flm_q4_0_vec_dot_##isa},             \
        [FLM_TYPE_Q4_1] = {.vec_dot = flm_q4_1_vec_dot_##isa,              \
                           .vec_dot4 = flm_q4_1_vec_dot4_##isa},           \
        [FLM_TYPE_Q5_0] = {.vec_dot = flm_q5_0_vec_dot_##isa,              \
                           .vec_dot4 = flm_q5_0_vec_dot4_##isa},           \
        [FLM_TYPE_Q5_1] = {.vec_dot = flm_q5_1_vec_dot_##isa},             \
        [FLM_TYPE_Q8_0] = {.vec_dot = flm_q8_0_vec_dot_##isa,              \
                           .vec_dot4 = flm_q8_0_vec_dot4_##isa},           \
        [FLM_TYPE_Q2_K] = {.vec_dot = flm_q2_K_vec_dot_##isa},             \
        [FLM_TYPE_Q3_K] = {.vec_dot = flm_q3_K_vec_dot_##isa},             \
        [FLM_TYPE_Q4_K] = {.vec_dot = flm_q4_K_vec_dot_##isa},             \
        [FLM_TYPE_Q5_K] = {.vec_dot = flm_q5_K_vec_dot_##isa},             \
        [FLM_TYPE_Q6_K] = {.vec_dot = flm_q6_K_vec_dot_##isa},             \
    }

#define ARM_SET(isa)                                                       \
    {                                                                      \
        [FLM_TYPE_Q4_0] = {.vec_dot = flm_q4_0_vec_dot_##isa},             \
        [FLM_TYPE_Q4_1] = {.vec_dot = flm_q4_1_vec_dot_##isa,              \
                           .vec_dot4 = flm_q4_1_vec_dot4_##isa},           \
        [FLM_TYPE_Q5_0] = {.vec_dot = flm_q5_0_vec_dot_##isa,              \
                           .vec_dot4 = flm_q5_0_vec_dot4_##isa},           \
        [FLM_TYPE_Q5_1] = {.vec_dot = flm_q5_1_vec_dot_##isa},             \
        [FLM_TYPE_Q8_0] = {.vec_dot = flm_q8_0_vec_dot_##isa,              \
                           .vec_dot4 = flm_q8_0_vec_dot4_##isa},           \
        [FLM_TYPE_Q2_K] = {.vec_dot = flm_q2_K_vec_dot_##isa},             \
        [FLM_TYPE_Q3_K] = {.vec_dot = flm_q3_K_vec_dot_##isa},             \
        [FLM_TYPE_Q4_K] = {.vec_dot = flm_q4_K_vec_dot_##isa},             \
        [FLM_TYPE_Q5_K] = {.vec_dot = flm_q5_K_vec_dot_##isa},             \
        [FLM_TYPE_Q6_K] = {.vec_dot = flm_q6_K_vec_dot_##isa},             \
    }

#if defined(__aarch64__)
static const struct kernel_set neon_set[FLM_TYPE_COUNT] = ARM_SET(neon);
static const struct kernel_set dotprod_set[FLM_TYPE_COUNT] = ARM_SET(dotprod);
#endif

#if defined(__x86_64__)
static const struct kernel_set avx2_set[FLM_TYPE_COUNT] = X86_SET(avx2);
static const struct kernel_set avx512_set[FLM_TYPE_COUNT] = X86_SET(avx512);
#endif

// NULL where an ISA has no kernels on this architecture.
static const struct kernel_set *isa_set(enum flm_isa isa) {
    switch (isa) {
#if defined(__x86_64__)
    case FLM_ISA_AVX2: return avx2_set;
    case FLM_ISA_AVX512: return avx512_set;
#endif
#if defined(__aarch64__)
    case FLM_ISA_NEON: return neon_set;
    case FLM_ISA_DOTPROD: return dotprod_set;
#endif
    default: return NULL;
    }
}

// ---------------------------------------------------------------- the chosen table

struct chosen {
    flm_vec_dot_fn  vec_dot;
    flm_vec_dot4_fn vec_dot4;  // from the same ISA as vec_dot, or NULL
    enum flm_isa    isa;
};

// Written once under pthread_once, read-only afterwards (like the CPU
// feature table it is derived from).
static struct chosen table[FLM_TYPE_COUNT];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void fill_table(void) {
    const enum flm_isa best = flm_cpu_isa();
    for (int t = 0; t < FLM_TYPE_COUNT; ++t) {
        const struct flm_type_traits *tr = flm_quant_traits((enum flm_type)t);
        table[t].vec_dot = tr ? tr->vec_dot : NULL;
        table[t].vec_dot4 = NULL;
        table[t].isa = FLM_ISA_SCALAR;
        if (!table[t].vec_dot) continue;
        for (int isa = FLM_ISA_SCALAR + 1; isa <= (int)best; ++isa) {
            const struct kernel_set *set = isa_set((enum flm_isa)isa);
            if (set && set[t].vec_dot) {
                table[t].vec_dot = set[t].vec_dot;
                table[t].vec_dot4 = set[t].vec_dot4;
                table[t].isa = (enum flm_isa)isa;
            }
        }
    }
}

static const struct chosen *entry(enum flm_type t) {
    if ((unsigned)t >= FLM_TYPE_COUNT) return NULL;
    pthread_once(&table_once, fill_table);
    return &table[t];
}

flm_vec_dot_fn flm_kernel_vec_dot(enum flm_type t) {
    const struct chosen *e = entry(t);
    return e ? e->vec_dot : NULL;
}

flm_vec_dot4_fn flm_kernel_vec_dot4(enum flm_type t) {
    const struct chosen *e = entry(t);
    return e ? e->vec_dot4 : NULL;
}

flm_vec_dot4_fn flm_kernel_vec_dot4_isa(enum flm_type t, enum flm_isa isa) {
    if ((unsigned)t >= FLM_TYPE_COUNT || isa == FLM_ISA_SCALAR) return NULL;
    const struct kernel_set *set = isa_set(isa);
    if (!set || !flm_cpu_has_isa(isa)) return NULL;
    return set[t].vec_dot4;
}

enum flm_isa flm_kernel_vec_dot_isa_of(enum flm_type t) {
    const struct chosen *e = entry(t);
    return e ? e->isa : FLM_ISA_SCALAR;
}

flm_vec_dot_fn flm_kernel_vec_dot_isa(enum flm_type t, enum flm_isa isa) {
    if ((unsigned)t >= FLM_TYPE_COUNT) return NULL;
    const struct flm_type_traits *tr = flm_quant_traits(t);
    if (!tr || !tr->vec_dot) return NULL;
    if (isa == FLM_ISA_SCALAR) return tr->vec_dot;
    const struct kernel_set *set = isa_set(isa);
    if (!set || !flm_cpu_has_isa(isa)) return NULL;
    return set[t].vec_dot;
}

// ---------------------------------------------------------------- attention

flm_attention_fn flm_kernel_attention(void) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX512) return flm_attention_head_avx512;
#endif
#if defined(__aarch64__)
    if (flm_cpu_isa() >= FLM_ISA_NEON) return flm_attention_head_neon;
#endif
    return flm_attention_head_ref;
}

// ---------------------------------------------------------------- llama.cpp-order K-quant dots

flm_vec_dot_fn flm_kernel_q4_K_tiled(bool group4) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX2) return group4 ? flm_q4_K_dot_group4_avx2 : flm_q4_K_dot_single_avx2;
#endif
#if defined(__aarch64__)
    if (flm_cpu_isa() >= FLM_ISA_DOTPROD) return group4 ? flm_q4_K_dot_group4_dotprod : flm_q4_K_dot_single_dotprod;
    if (flm_cpu_isa() >= FLM_ISA_NEON) return group4 ? flm_q4_K_dot_group4_neon : flm_q4_K_dot_single_neon;
#endif
    return group4 ? flm_q4_K_dot_group4_ref : flm_q4_K_dot_single_ref;
}

flm_vec_dot4_fn flm_kernel_q4_K_tiled4(void) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX2) return flm_q4_K_dot4_group4_avx2;
#endif
    return NULL;
}

flm_vec_dot4_fn flm_kernel_kq_batch4(enum flm_type t) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX2) {
        if (t == FLM_TYPE_Q6_K) return flm_q6_K_dot4_batch_avx2;
        if (t == FLM_TYPE_Q4_K) return flm_q4_K_dot4_batch_avx2;
    }
#endif
    (void)t;
    return NULL;
}

flm_vec_dot_fn flm_kernel_kq_batch(enum flm_type t) {
#if defined(__x86_64__)
    if (flm_cpu_isa() >= FLM_ISA_AVX2) {
        if (t == FLM_TYPE_Q6_K) return flm_q6_K_dot_batch_avx2;
        if (t == FLM_TYPE_Q4_K) return flm_q4_K_dot_batch_avx2;
    }
#endif
#if defined(__aarch64__)
    if (flm_cpu_isa() >= FLM_ISA_DOTPROD) {
        if (t == FLM_TYPE_Q6_K) return flm_q6_K_dot_batch_dotprod;
        if (t == FLM_TYPE_Q4_K) return flm_q4_K_dot_batch_dotprod;
    } else if (flm_cpu_isa() >= FLM_ISA_NEON) {
        if (t == FLM_TYPE_Q6_K) return flm_q6_K_dot_batch_neon;
        if (t == FLM_TYPE_Q4_K) return flm_q4_K_dot_batch_neon;
    }
#endif
    return flm_kq_batch_dot(t);
}

// ---------------------------------------------------------------- llama.cpp-order Q4_0 product

flm_q4_0_rows_fn flm_kernel_q4_0_rows_isa(enum flm_isa isa) {
    if (isa == FLM_ISA_SCALAR) return flm_q4_0_rows_ref;
    if (!flm_cpu_has_isa(isa)) return NULL;
#if defined(__x86_64__)
    if (isa == FLM_ISA_AVX512) return flm_q4_0_rows_avx512;
    if (isa == FLM_ISA_AVX2) return flm_q4_0_rows_avx2;
#endif
    return NULL;
}

flm_q4_0_rows_fn flm_kernel_q4_0_rows(void) {
    for (int isa = (int)flm_cpu_isa(); isa > FLM_ISA_SCALAR; isa--) {
        const flm_q4_0_rows_fn f = flm_kernel_q4_0_rows_isa((enum flm_isa)isa);
        if (f) return f;
    }
    return flm_q4_0_rows_ref;
}

// ---------------------------------------------------------------- quantized row into a float accumulator

flm_axpy_fn flm_kernel_axpy_isa(enum flm_type t, enum flm_isa isa) {
    if (t != FLM_TYPE_Q8_0) return NULL;
    if (isa == FLM_ISA_SCALAR) return flm_q8_0_axpy_ref;
    if (!flm_cpu_has_isa(isa)) return NULL;
#if defined(__x86_64__)
    if (isa == FLM_ISA_AVX512) return flm_q8_0_axpy_avx512;
    if (isa == FLM_ISA_AVX2) return flm_q8_0_axpy_avx2;
#endif
#if defined(__aarch64__)
    if (isa == FLM_ISA_NEON) return flm_q8_0_axpy_neon;
#endif
    return NULL;
}

flm_axpy_fn flm_kernel_axpy(enum flm_type t) {
    for (int isa = (int)flm_cpu_isa(); isa > FLM_ISA_SCALAR; isa--) {
        const flm_axpy_fn f = flm_kernel_axpy_isa(t, (enum flm_isa)isa);
        if (f) return f;
    }
    return flm_kernel_axpy_isa(t, FLM_ISA_SCALAR);
}
