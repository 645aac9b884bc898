// Scalar reference GELU using libm's erff and expf.
#include <cmath>

#include "simd/gelu/gelu.h"

namespace cnx {

static const float kInvSqrt2 = 0.70710678118654752f;
static const float kInvSqrt2Pi = 0.39894228040143268f;

void gelu_fwd_ref(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + std::erf(v * kInvSqrt2));
    }
}

void gelu_bwd_ref(float* dx, const float* dy, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
        float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

}  // namespace cnx
