// vecdot_neon.c - the AArch64 vec_dot kernels for ARMv8.0 Advanced SIMD
// (body in vecdot_body_arm.h): 8-bit products by SMULL + SADALP.
#include "kernels/arm/vecdot_arm.h"

#define VD(name) name##_neon
#include "kernels/arm/vecdot_body_arm.h"
