// GELU (exact erf) over a flat array, threaded.
#pragma once

#include <cstdint>

namespace cnx {

void gelu_forward(float* y, const float* x, int64_t n);
// dx = dy * gelu'(x); dx may alias dy.
void gelu_backward(float* dx, const float* dy, const float* x, int64_t n);

}  // namespace cnx
