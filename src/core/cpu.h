// cpu.h - what the CPU flashlm runs on can do, detected once.
//
// The first call to any function here runs the detection (on x86 cpuid, plus
// xgetbv to make sure the OS saves the wider registers; on AArch64 Linux the
// kernel's hardware capabilities, getauxval(AT_HWCAP)) exactly once, thread-safely,
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

// Instruction-set levels a kernel variant may be written for. Within one
// architecture each level implies the ones before it (AVX512 here means
// AVX-512 F/BW/VL/VNNI on top of AVX2+FMA+F16C; DOTPROD means NEON + the
// ARMv8.2 dot-product instructions); a CPU has no level of the other
// architecture, so "the best level" is the highest one it has.
enum flm_isa {
    FLM_ISA_SCALAR  = 0,  // plain C, runs everywhere: the oracle
    FLM_ISA_AVX2    = 1,  // x86: AVX2 + FMA + F16C
    FLM_ISA_AVX512  = 2,  // x86: the above + AVX-512 F, BW, VL, VNNI
    FLM_ISA_NEON    = 3,  // AArch64: Advanced SIMD (every ARMv8.0 CPU)
    FLM_ISA_DOTPROD = 4,  // AArch64: NEON + SDOT/UDOT (HWCAP_ASIMDDP)
    FLM_ISA_COUNT,
};

struct flm_cpu_features {
    bool avx2, fma, f16c;                        // x86, usable (CPU and OS)
    bool avx512f, avx512bw, avx512vl, avx512vnni;
    bool neon, dotprod;                          // AArch64 (HWCAP_ASIMD, HWCAP_ASIMDDP)
    bool force_scalar;                           // FLM_SCALAR was set
};

// The frozen feature table. Valid for the life of the process.
const struct flm_cpu_features *flm_cpu_features(void);

// True when the CPU and OS can run code for isa, ignoring FLM_SCALAR.
bool flm_cpu_has_isa(enum flm_isa isa);

// The best isa kernels should use: FLM_ISA_SCALAR under FLM_SCALAR, otherwise
// the highest level flm_cpu_has_isa() accepts.
enum flm_isa flm_cpu_isa(void);

// "scalar", "avx2", "avx512", "neon", "dotprod"; "?" for anything else.
const char *flm_isa_name(enum flm_isa isa);

#endif
