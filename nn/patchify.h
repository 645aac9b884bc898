// Non-overlapping k x k, stride-k convolutions (the stem, k = stem stride; the downsamples, k = 2) run
// as one GEMM over patch rows: patches [N*Ho*Wo, k*k*Cin] times W[Cout, k*k*Cin]^T (nn/linear.h).
// A patch row is (kh, kw, cin) with cin fastest, so the internal weight layout is [Cout][k][k][Cin]
// (PyTorch's is [Cout][Cin][k][k]; checkpoints convert).
#pragma once

#include <cstdint>

#include "simd/bf16/bf16.h"

namespace cnx {

// Gathers an NHWC map [N, H, W, C] into patch rows [N*(H/k)*(W/k), k*k*C]: as they are, or rounded
// to bf16 (the stem GEMM's input in bf16 precision).
void patch_gather(float* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k);
void patch_gather(bf16* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k);

// off[token] = element offset of token (n, h, w) of an NHWC map [N, H, W, C] inside the patch matrix,
// so a row-wise layer (the downsample LayerNorm) can write its rows straight into patch layout.
void patch_offsets(int64_t* off, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k);

}  // namespace cnx
