// Global Response Normalization (ConvNeXt V2), split into the passes a caller strings together per
// sample over its rows x[r, c] (r: the sample's tokens, c < C channels):
//   gx[c] = sqrt(sum_r x[r,c]^2)                     grn_sumsq (accumulates sum_r x^2)
//   nx[c] = gx[c] / (mean_c' gx[c'] + 1e-6)          (tiny, done by the caller)
//   y     = gamma * (x * nx) + beta + x               grn_apply
// Backward, with dy given:
//   S[c] = sum_r dy*x,  B[c] = sum_r dy               grn_bwd_reduce (accumulates)
//   dgamma += nx*S, dbeta += B, d_nx = gamma*S, d_gx from d_nx   (caller)
//   dx = dy * (1 + gamma*nx) + x * k[c],  k = d gx / gx   grn_bwd_apply
//
// In a block GRN follows GELU (x = gelu(h)), so two fused passes save a trip through memory each way:
//   grn_gelu_sumsq:     x = gelu(h) written, sum_r x^2 accumulated        (GELU forward + statistics)
//   grn_bwd_apply_gelu: dh = (dy * (1 + gamma*nx) + x * k) * gelu'(h)    (GRN apply + GELU backward)
#pragma once

#include <cstdint>

#include "core/check.h"
#include "simd/bf16/bf16.h"

namespace cnx {

using grn_sumsq_t = void(float* sumsq, const float* x, int64_t rows, int64_t C);
using grn_apply_t = void(float* y, const float* x, const float* nx, const float* gamma, const float* beta,
                         int64_t rows, int64_t C);
using grn_bwd_reduce_t = void(float* s, float* b, const float* dy, const float* x, int64_t rows, int64_t C);
using grn_bwd_apply_t = void(float* dx, const float* dy, const float* x, const float* nx, const float* gamma,
                             const float* k, int64_t rows, int64_t C);
using grn_gelu_sumsq_t = void(float* x, float* sumsq, const float* h, int64_t rows, int64_t C);
using grn_bwd_apply_gelu_t = void(float* dh, const float* dy, const float* x, const float* h, const float* nx,
                                  const float* gamma, const float* k, int64_t rows, int64_t C);

// The block's passes in bf16 precision, where h (pwconv1's output), x = gelu(h), y (pwconv2's input)
// and dh (pwconv1's output gradient) are held in bf16: each computes in fp32 what its fp32 twin
// computes from the widened inputs and rounds what it writes to nearest even. grn_gelu_sumsq_bf16
// sums the squares of x as stored (rounded), the values the later passes read back.
using grn_gelu_sumsq_bf16_t = void(bf16* x, float* sumsq, const bf16* h, int64_t rows, int64_t C);
using grn_apply_bf16_t = void(bf16* y, const bf16* x, const float* nx, const float* gamma, const float* beta,
                              int64_t rows, int64_t C);
using grn_bwd_reduce_bf16_t = void(float* s, float* b, const float* dy, const bf16* x, int64_t rows, int64_t C);
using grn_bwd_apply_gelu_bf16_t = void(bf16* dh, const float* dy, const bf16* x, const bf16* h, const float* nx,
                                       const float* gamma, const float* k, int64_t rows, int64_t C);

// What every GRN pass asks of its caller (checked in debug and sanitizer builds).
inline void grn_dcheck(int64_t rows, int64_t C) {
    CNX_DCHECK(rows >= 0, "grn: negative row count");
    CNX_DCHECK(C >= 1, "grn: no channels");
}

}  // namespace cnx
