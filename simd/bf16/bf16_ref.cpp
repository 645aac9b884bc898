// Scalar reference conversions between fp32 and bf16 (the spec the SIMD variants meet bit for bit).
#include "simd/kernels.h"

namespace cnx {

void bf16_from_f32_ref(bf16* dst, const float* src, int64_t n) {
    bf16_dcheck(dst, src, n);
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_from_float(src[i]);
}

void f32_from_bf16_ref(float* dst, const bf16* src, int64_t n) {
    bf16_dcheck(dst, src, n);
    for (int64_t i = 0; i < n; i++) dst[i] = float_from_bf16(src[i]);
}

}  // namespace cnx
