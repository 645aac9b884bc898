// Residual connection with DropPath (stochastic depth, per sample):
//   x_out = x_in + scale[n] * branch,  scale[n] = keep ? 1/(1-p) : 0  (timm drop_path, scale_by_keep).
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "simd/bf16/bf16.h"

namespace cnx {

// Draws per-sample scales for drop rate p (all 1 when p == 0): sample n from stream (key, first + n),
// so a data-parallel rank holding samples first.. of the global batch draws what one process would.
void drop_path_scales(float* scale, int64_t N, float p, uint64_t key, int64_t first = 0);

// x_out = x_in + scale[n] * y over N samples of `per_sample` floats (scale null: 1). x_out may alias x_in.
// The stream is fp32; the branch y fp32, or bf16 (bf16 precision: pwconv2's output), widened.
void residual_forward(float* x_out, const float* x_in, const float* y, const float* scale, int64_t N, int64_t per_sample);
void residual_forward(float* x_out, const float* x_in, const bf16* y, const float* scale, int64_t N, int64_t per_sample);
// dy = scale[n] * dx_out.
void residual_branch_grad(float* dy, const float* dx_out, const float* scale, int64_t N, int64_t per_sample);

// Masked stages: the branch y is compact [rows, C] (rows_per_sample rows per sample), the stream is
// dense, compact row r at element offset off[r]. x_out[off[r]] = x_in[off[r]] + scale[n] * y[r]
// (scale null: 1); sites outside the rows are left alone.
void residual_forward_rows(float* x_out, const float* x_in, const float* y, const float* scale, const int64_t* off,
                           int64_t rows, int64_t rows_per_sample, int64_t C);
void residual_forward_rows(float* x_out, const float* x_in, const bf16* y, const float* scale, const int64_t* off,
                           int64_t rows, int64_t rows_per_sample, int64_t C);
// dy[r] = scale[n] * dx_out[off[r]] (scale null: 1).
void residual_branch_grad_rows(float* dy, const float* dx_out, const float* scale, const int64_t* off, int64_t rows,
                               int64_t rows_per_sample, int64_t C);

}  // namespace cnx
