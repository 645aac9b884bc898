// The AVX512-BF16 rows of the kernel list (compiled with the AVX-512 flags and -mavx512bf16).
#define CNX_ROW_AVX512_BF16(family, fn) CNX_DEFINE_ROW(family, AVX512_BF16, fn)
#include "simd/kernels_isa.inc"
