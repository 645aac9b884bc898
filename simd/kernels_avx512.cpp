// The AVX-512 rows of the kernel list (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq).
#define CNX_ROW_AVX512(family, fn) CNX_DEFINE_ROW(family, AVX512, fn)
#include "simd/kernels_isa.inc"
