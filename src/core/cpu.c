// cpu.c - CPU feature detection, run once and frozen (see cpu.h).
#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FLM_CPU_X86 1
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define FLM_CPU_ARM64 1
// From the kernel's arch/arm64 hwcap.h, in case the libc headers predate them.
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

// The one piece of process-wide state in core: written once under
// pthread_once, read-only afterwards.
static struct flm_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#ifdef FLM_CPU_X86
// XCR0, the register state the OS saves on context switch. Read with the raw
// opcode so that this file needs no -mxsave.
static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect_x86(struct flm_cpu_features *f) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const unsigned long long xcr0 = read_xcr0();
    const bool os_ymm = (xcr0 & 0x6) == 0x6;     // XMM and YMM state
    const bool os_zmm = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
    if (!os_ymm) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    f->avx2 = (b >> 5) & 1;
    f->fma = fma;
    f->f16c = f16c;
    if (!os_zmm) return;
    f->avx512f = (b >> 16) & 1;
    f->avx512bw = (b >> 30) & 1;
    f->avx512vl = (b >> 31) & 1;
    f->avx512vnni = (c >> 11) & 1;
}
#endif

#ifdef FLM_CPU_ARM64
// The kernel tells which optional instructions user space may run; one
// binary then runs on plain ARMv8.0 and uses SDOT where it exists.
static void detect_arm64(struct flm_cpu_features *f) {
    const unsigned long hwcap = getauxval(AT_HWCAP);
    f->neon = (hwcap & HWCAP_ASIMD) != 0;
    f->dotprod = f->neon && (hwcap & HWCAP_ASIMDDP) != 0;
}
#endif

static void detect(void) {
    struct flm_cpu_features f;
    memset(&f, 0, sizeof f);
#ifdef FLM_CPU_X86
    detect_x86(&f);
#endif
#ifdef FLM_CPU_ARM64
    detect_arm64(&f);
#endif
    const char *env = getenv("FLM_SCALAR");
    f.force_scalar = env && env[0] && strcmp(env, "0") != 0;
    features = f;
}

const struct flm_cpu_features *flm_cpu_features(void) {
    pthread_once(&features_once, detect);
    return &features;
}

bool flm_cpu_has_isa(enum flm_isa isa) {
    const struct flm_cpu_features *f = flm_cpu_features();
    const bool avx2 = f->avx2 && f->fma && f->f16c;
    switch (isa) {
    case FLM_ISA_SCALAR: return true;
    case FLM_ISA_AVX2: return avx2;
    case FLM_ISA_AVX512: return avx2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni;
    case FLM_ISA_NEON: return f->neon;
    case FLM_ISA_DOTPROD: return f->neon && f->dotprod;
    default: return false;
    }
}

enum flm_isa flm_cpu_isa(void) {
    if (flm_cpu_features()->force_scalar) return FLM_ISA_SCALAR;
    for (int isa = FLM_ISA_COUNT - 1; isa > FLM_ISA_SCALAR; --isa)
        if (flm_cpu_has_isa((enum flm_isa)isa)) return (enum flm_isa)isa;
    return FLM_ISA_SCALAR;
}

const char *flm_isa_name(enum flm_isa isa) {
    switch (isa) {
    case FLM_ISA_SCALAR: return "scalar";
    case FLM_ISA_AVX2: return "avx2";
    case FLM_ISA_AVX512: return "avx512";
    case FLM_ISA_NEON: return "neon";
    case FLM_ISA_DOTPROD: return "dotprod";
    default: return "?";
    }
}
