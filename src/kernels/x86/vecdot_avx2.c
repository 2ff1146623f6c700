// vecdot_avx2.c - the x86 vec_dot kernels for AVX2+FMA+F16C (body in vecdot_body.h).
#include "kernels/x86/vecdot_x86.h"

#define VD(name) name##_avx2
#include "kernels/x86/vecdot_body.h"
