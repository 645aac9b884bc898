// LayerNorm over the channel dim of token rows (eps inside the square root, biased variance).
//
// Glossary: rows = tokens, C = channels. Row r of a tensor X starts at X + (X_off ? X_off[r] : r*C):
// the optional element-offset arrays let one call gather visible rows from a dense activation, or
// scatter rows into the 2x2 patch layout of a downsample, without a separate copy pass.
//
// Kernel contract (all families): pure leaf functions; no allocation, no threading (the caller passes
// a thread's range); no reads or writes outside the rows named.
#pragma once

#include <cstdint>

namespace cnx {

// dst = (src - mean) * rstd * gamma + beta; saves mean and rstd per row when they are non-null.
// dst may alias src (same offsets).
using layernorm_fwd_t = void(float* dst, const int64_t* dst_off, float* mean, float* rstd, const float* src,
                             const int64_t* src_off, const float* gamma, const float* beta, int64_t rows,
                             int64_t C, float eps);

// d_src = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = d_dst * gamma, xhat = (src - mean) * rstd.
// d_src is written (not accumulated); d_gamma += sum(d_dst * xhat), d_beta += sum(d_dst) (per-thread
// partials). d_src may alias d_dst (same offsets).
using layernorm_bwd_t = void(float* d_src, const int64_t* d_src_off, float* d_gamma, float* d_beta,
                             const float* d_dst, const int64_t* d_dst_off, const float* src,
                             const int64_t* src_off, const float* mean, const float* rstd, const float* gamma,
                             int64_t rows, int64_t C);

}  // namespace cnx
