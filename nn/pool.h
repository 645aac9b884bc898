// Global average pooling over the tokens of each sample: x [N, R, C] -> y [N, C].
#pragma once

#include <cstdint>

namespace cnx {

void avgpool_forward(float* y, const float* x, int64_t N, int64_t R, int64_t C);
// dx[n, r, :] = dy[n, :] / R (written).
void avgpool_backward(float* dx, const float* dy, int64_t N, int64_t R, int64_t C);

}  // namespace cnx
