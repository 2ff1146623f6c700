// dispatch.h - which kernel variant runs, chosen once from the CPU's features.
//
// A table per ISA names the SIMD variants that exist (kernels/x86/...); the
// table the engine uses is filled once, on first use, from core/cpu.h: for
// each type the best variant the CPU supports, or the scalar oracle from
// flm_quant_traits() where there is none or FLM_SCALAR is set. Afterwards it
// is read-only; the returned functions stay valid for the process lifetime.
#ifndef FLM_KERNELS_DISPATCH_H
#define FLM_KERNELS_DISPATCH_H

#include "core/cpu.h"
#include "core/types.h"
#include "quant/quant.h"

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

// The attention kernel (kernels/attention.h): the AVX-512 variant where the
// CPU has it and FLM_SCALAR is not set, else the scalar reference.
#include "kernels/attention.h"

#include <stdbool.h>
flm_attention_fn flm_kernel_attention(void);

// The llama.cpp-order Q4_K dots (kernels/q4_K_tiled.h) and batched K-quant
// dots (kernels/kq_batch.h; NULL for types without one), SIMD where the CPU
// has it: the same bits as the references.
flm_vec_dot_fn flm_kernel_q4_K_tiled(bool group4);
flm_vec_dot_fn flm_kernel_kq_batch(enum flm_type t);

#endif
