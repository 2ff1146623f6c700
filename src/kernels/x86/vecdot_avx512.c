// vecdot_avx512.c - the x86 vec_dot kernels built with AVX-512 VNNI: the
// 8-bit dot products become vpdpbusd, the float operations stay those of
// the AVX2 build, so results are bit-identical to vecdot_avx2.c (and to
// llama.cpp's AVX-512 build, which does the same).
#include "kernels/x86/vecdot_x86.h"

#define VD(name) name##_avx512
#include "kernels/x86/vecdot_body.h"
