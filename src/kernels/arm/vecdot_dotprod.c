// vecdot_dotprod.c - the AArch64 vec_dot kernels built with the ARMv8.2
// dot-product extension (CMakeLists.txt gives this file, and only it,
// -march=armv8.2-a+dotprod): the 8-bit products become SDOT, everything
// else is vecdot_neon.c's code, so results are bit-identical to it. Only run
// where core/cpu.c saw HWCAP_ASIMDDP.
#include "kernels/arm/vecdot_arm.h"

#define VD(name) name##_dotprod
#include "kernels/arm/vecdot_body_arm.h"
