// cpu.h - what the CPU flashlm runs on can do, detected once.
//
// The first call to any function here runs the detection (cpuid, plus xgetbv
// to make sure the OS saves the wider registers) exactly once, thread-safely,
// and freezes the answer in a read-only table for the life of the process.
// Kernel dispatch (kernels/dispatch.c) is the main reader.
//
// Environment (read once, at that first call):
//   FLM_SCALAR=1   run the scalar oracle kernels everywhere, whatever the CPU
//                  can do (any non-empty value other than "0" counts). Meant
//                  for debugging and for comparing against the oracle.
#ifndef FLM_CORE_CPU_H
#define FLM_CORE_CPU_H

#include <stdbool.h>

// Instruction-set levels a kernel variant may be written for. Each level
// implies the ones before it on x86 (AVX512 here means AVX-512 F/BW/VL/VNNI on
// top of AVX2+FMA+F16C).
enum flm_isa {
    FLM_ISA_SCALAR = 0,  // plain C, runs everywhere: the oracle
    FLM_ISA_AVX2   = 1,  // AVX2 + FMA + F16C
    FLM_ISA_AVX512 = 2,  // the above + AVX-512 F, BW, VL, VNNI
    FLM_ISA_COUNT,
};

struct flm_cpu_features {
    bool avx2, fma, f16c;                        // usable (CPU and OS)
    bool avx512f, avx512bw, avx512vl, avx512vnni;
    bool force_scalar;                           // FLM_SCALAR was set
};

// The frozen feature table. Valid for the life of the process.
const struct flm_cpu_features *flm_cpu_features(void);

// True when the CPU and OS can run code for isa, ignoring FLM_SCALAR.
bool flm_cpu_has_isa(enum flm_isa isa);

// The best isa kernels should use: FLM_ISA_SCALAR under FLM_SCALAR, otherwise
// the highest level flm_cpu_has_isa() accepts.
enum flm_isa flm_cpu_isa(void);

// "scalar", "avx2", "avx512"; "?" for anything else.
const char *flm_isa_name(enum flm_isa isa);

#endif
