// The AVX2 rows of the kernel list (compiled with -mavx2 -mfma).
#define CNX_ROW_AVX2(family, fn) CNX_DEFINE_ROW(family, AVX2, fn)
#include "simd/kernels_isa.inc"
