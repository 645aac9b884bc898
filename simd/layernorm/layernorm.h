// LayerNorm over the channel dim of token rows (eps inside the square root, biased variance).
//
// Glossary: rows = tokens, C = channels. Tensors are Rows (core/tensor.h): contiguous, or at element
// offsets that gather visible rows from a dense activation or scatter rows into the 2x2 patch layout
// of a downsample, without a separate copy pass.
//
// Kernel contract (all families): pure leaf functions; no allocation, no threading (the caller passes
// a thread's range); no reads or writes outside the rows named.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/tensor.h"
#include "simd/bf16/bf16.h"

namespace cnx {

// dst = (src - mean) * rstd * gamma + beta; saves mean and rstd per row when they are non-null.
// dst may alias src (same offsets).
using layernorm_fwd_t = void(Rows dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta,
                             int64_t rows, int64_t C, float eps);

// The block's LayerNorm in bf16 precision: src (the depthwise output) and dst (a GEMM's input) in bf16,
// the math in fp32 on the widened src, dst rounded to nearest even.
using layernorm_fwd_bf16_t = void(RowsOf<bf16> dst, float* mean, float* rstd, RowsOf<const bf16> src, const float* gamma,
                                  const float* beta, int64_t rows, int64_t C, float eps);

// d_src = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = d_dst * gamma, xhat = (src - mean) * rstd.
// d_src is written (not accumulated); d_gamma += sum(d_dst * xhat), d_beta += sum(d_dst) (per-thread
// partials). d_src may alias d_dst (same offsets).
using layernorm_bwd_t = void(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src,
                             const float* mean, const float* rstd, const float* gamma, int64_t rows, int64_t C);

// LayerNorm from fp32 to bf16: a downsample's LayerNorm of the fp32 stream into its GEMM's input.
using layernorm_fwd_to_bf16_t = void(RowsOf<bf16> dst, float* mean, float* rstd, ConstRows src, const float* gamma,
                                     const float* beta, int64_t rows, int64_t C, float eps);

// layernorm_bwd with src in bf16 (widened exactly).
using layernorm_bwd_bf16_t = void(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const bf16> src,
                                  const float* mean, const float* rstd, const float* gamma, int64_t rows, int64_t C);

// What every LayerNorm kernel asks of its caller (checked in debug and sanitizer builds).
inline void layernorm_dcheck(const void* dst, const void* src, int64_t rows, int64_t C) {
    CNX_DCHECK(rows >= 0, "layernorm: negative row count");
    CNX_DCHECK(C >= 1, "layernorm: no channels");
    CNX_DCHECK(rows == 0 || (dst && src), "layernorm: null rows");
}

}  // namespace cnx
