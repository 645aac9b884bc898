// Scalar reference GELU, evaluated in double and rounded once (the spec the SIMD variants meet).
// Phi(x) = 0.5 * erfc(-x / sqrt(2)) keeps full relative precision for large negative x, where
// 1 + erf(x / sqrt(2)) would cancel.
#include <cmath>

#include "simd/kernels.h"

namespace cnx {

void gelu_fwd_ref(float* y, const float* x, int64_t n) {
    gelu_dcheck(y, x, n);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * std::erfc(-v * M_SQRT1_2));
    }
}

void gelu_bwd_ref(float* dx, const float* dy, const float* x, int64_t n) {
    gelu_dcheck(dx, x, n);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * std::erfc(-v * M_SQRT1_2);
        double pdf = std::exp(-0.5 * v * v) * 0.39894228040143268;
        dx[i] = (float)((double)dy[i] * (cdf + v * pdf));
    }
}

}  // namespace cnx
