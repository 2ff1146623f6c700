// dispatch.h - which kernel variant runs, chosen once from the CPU's features.
//
// A table per ISA names the SIMD variants that exist (kernels/x86/...,
// kernels/arm/...); the table the engine uses is filled once, on first use,
// from core/cpu.h: for each type the best variant the CPU supports, or the scalar oracle from
// flm_quant_traits() where there is none or FLM_SCALAR is set. Afterwards it
// is read-only; the returned functions stay valid for the process lifetime.
#ifndef FLM_KERNELS_DISPATCH_H
#define FLM_KERNELS_DISPATCH_H

#include "core/cpu.h"
#include "core/types.h"
#include "quant/quant.h"

#include <stddef.h>
#include <stdint.h>

// The dot product of a weight row of type t with an activation row of its
// vec_dot_type (see quant.h), as the engine should call it. NULL when t has
// no dot product (activation-only or unknown types).
flm_vec_dot_fn flm_kernel_vec_dot(enum flm_type t);

// The variant written for one ISA, for tests and benchmarks: the oracle for
// FLM_ISA_SCALAR; NULL when that ISA has no variant for t or this CPU cannot
// run it. Ignores FLM_SCALAR.
flm_vec_dot_fn flm_kernel_vec_dot_isa(enum flm_type t, enum flm_isa isa);

// The ISA of the variant flm_kernel_vec_dot(t) returns (FLM_ISA_SCALAR for
// the oracle, and for types without a dot product).
enum flm_isa flm_kernel_vec_dot_isa_of(enum flm_type t);

// One weight row x against four activation rows at y + k * y_stride (k < 4):
// s[k] = the dot of x with row k, each bit-identical to what the 1-row
// kernel flm_kernel_vec_dot(t) gives for that row; only the weight's loading
// is shared. y_stride is in bytes.
typedef void (*flm_vec_dot4_fn)(int64_t n, float *s, const void *x, const void *y, size_t y_stride);

// The 4-row variant of flm_kernel_vec_dot(t), from the same ISA as it; NULL
// when that ISA has none for t (always NULL for the scalar oracle).
flm_vec_dot4_fn flm_kernel_vec_dot4(enum flm_type t);

// The 4-row variant written for one ISA, for tests: NULL when there is none
// for t or this CPU cannot run it. Ignores FLM_SCALAR.
flm_vec_dot4_fn flm_kernel_vec_dot4_isa(enum flm_type t, enum flm_isa isa);

// The attention kernel (kernels/attention.h): the AVX-512 or NEON variant
// where the CPU has it and FLM_SCALAR is not set, else the scalar reference.
#include "kernels/attention.h"

#include <stdbool.h>
flm_attention_fn flm_kernel_attention(void);

// The llama.cpp-order Q4_K dots (kernels/q4_K_tiled.h) and batched K-quant
// dots (kernels/kq_batch.h; NULL for types without one), SIMD where the CPU
// has it: the same bits as the references.
flm_vec_dot_fn flm_kernel_q4_K_tiled(bool group4);
flm_vec_dot_fn flm_kernel_kq_batch(enum flm_type t);
// Four activation rows per call with exactly the bits of the above (the
// group-of-four Q4_K order; the batched order of type t); NULL where only
// the one-row version exists.
flm_vec_dot4_fn flm_kernel_q4_K_tiled4(void);
flm_vec_dot4_fn flm_kernel_kq_batch4(enum flm_type t);

// The llama.cpp-order Q4_0 product (kernels/q4_0_tiled.h): the best variant
// for this CPU (the reference under FLM_SCALAR), or the one written for isa
// (for tests: NULL when there is none or the CPU cannot run it).
#include "kernels/q4_0_tiled.h"
flm_q4_0_rows_fn flm_kernel_q4_0_rows(void);
flm_q4_0_rows_fn flm_kernel_q4_0_rows_isa(enum flm_isa isa);

// y += a * (quantized row) (kernels/axpy.h): the best variant for this CPU
// (the reference under FLM_SCALAR), NULL for a type without one; or the one
// written for isa (for tests: NULL when there is none or the CPU cannot run it).
#include "kernels/axpy.h"
flm_axpy_fn flm_kernel_axpy(enum flm_type t);
flm_axpy_fn flm_kernel_axpy_isa(enum flm_type t, enum flm_isa isa);

#endif
