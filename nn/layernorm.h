// LayerNorm over channels (eps 1e-6) for token rows, threaded over rows. Rows may be gathered or
// scattered through element offsets (core/tensor.h); a plain pointer means contiguous rows of C.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "nn/parallel.h"
#include "simd/bf16/bf16.h"

namespace cnx {

constexpr float kLayerNormEps = 1e-6f;

class LayerNorm {
public:
    void init(int64_t rows, int64_t C);
    int64_t rows() const { return rows_; }
    void set_rows(int64_t rows);  // for a varying number of visible rows (<= the planned count)

    // dst = LN(src); mean/rstd [rows] saved for backward (may be null in inference).
    void forward(Rows dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta) const;
    // dst in bf16 (a bf16 GEMM's input): from an fp32 src (a downsample's), or a bf16 one (a block's
    // depthwise output).
    void forward(RowsOf<bf16> dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta) const;
    void forward(RowsOf<bf16> dst, float* mean, float* rstd, RowsOf<const bf16> src, const float* gamma, const float* beta) const;
    // d_src written; d_gamma, d_beta accumulated.
    void backward(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src, const float* mean,
                  const float* rstd, const float* gamma);
    // The same with src in bf16.
    void backward(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const bf16> src, const float* mean,
                  const float* rstd, const float* gamma);

private:
    template <class In, class Kernel>
    void backward_as(Kernel kernel, Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const In> src,
                     const float* mean, const float* rstd, const float* gamma);
    int64_t rows_ = 0, max_rows_ = 0, C_ = 0;
    GradPartials partials_;  // [d_gamma | d_beta] per thread
};

}  // namespace cnx
