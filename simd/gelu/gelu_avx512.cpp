#include "simd/gelu/gelu.h"
#include "simd/gelu/gelu_simd.h"

namespace cnx {
void gelu_fwd_avx512(float* y, const float* x, int64_t n) { gelu_fwd_simd<Avx512>(y, x, n); }
void gelu_bwd_avx512(float* dx, const float* dy, const float* x, int64_t n) { gelu_bwd_simd<Avx512>(dx, dy, x, n); }
}  // namespace cnx
