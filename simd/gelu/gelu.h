// GELU, exact erf form (PyTorch nn.GELU default): y = 0.5 * x * (1 + erf(x / sqrt(2))).
#pragma once

#include <cstdint>

namespace cnx {

// y[i] = gelu(x[i]); y may alias x.
typedef void (*gelu_fwd_fn)(float* y, const float* x, int64_t n);
// dx[i] = dy[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x * phi(x); dx may alias dy.
typedef void (*gelu_bwd_fn)(float* dx, const float* dy, const float* x, int64_t n);

void gelu_fwd_ref(float* y, const float* x, int64_t n);
void gelu_bwd_ref(float* dx, const float* dy, const float* x, int64_t n);
void gelu_fwd_avx2(float* y, const float* x, int64_t n);
void gelu_bwd_avx2(float* dx, const float* dy, const float* x, int64_t n);
void gelu_fwd_avx512(float* y, const float* x, int64_t n);
void gelu_bwd_avx512(float* dx, const float* dy, const float* x, int64_t n);

}  // namespace cnx
