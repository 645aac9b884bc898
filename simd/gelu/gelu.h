// GELU, exact erf form (PyTorch nn.GELU default): y = 0.5 * x * (1 + erf(x / sqrt(2))).
#pragma once

#include <cstdint>

#include "core/check.h"

namespace cnx {

// y[i] = gelu(x[i]); y may alias x.
using gelu_fwd_t = void(float* y, const float* x, int64_t n);
// dx[i] = dy[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x * phi(x); dx may alias dy.
using gelu_bwd_t = void(float* dx, const float* dy, const float* x, int64_t n);

// What every GELU kernel asks of its caller (checked in debug and sanitizer builds).
inline void gelu_dcheck(const float* out, const float* in, int64_t n) {
    CNX_DCHECK(n >= 0, "gelu: negative length");
    CNX_DCHECK(n == 0 || (out && in), "gelu: null buffer");
}

}  // namespace cnx
