// GELU, exact erf form (PyTorch nn.GELU default): y = 0.5 * x * (1 + erf(x / sqrt(2))).
#pragma once

#include <cstdint>

namespace cnx {

// y[i] = gelu(x[i]); y may alias x.
using gelu_fwd_t = void(float* y, const float* x, int64_t n);
// dx[i] = dy[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x * phi(x); dx may alias dy.
using gelu_bwd_t = void(float* dx, const float* dy, const float* x, int64_t n);

}  // namespace cnx
