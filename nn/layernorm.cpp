#include "nn/layernorm.h"

#include "core/check.h"
#include "simd/kernels.h"

namespace cnx {

void LayerNorm::init(int64_t rows, int64_t C) {
    rows_ = max_rows_ = rows;
    C_ = C;
    partials_.init(2 * C);
}

void LayerNorm::set_rows(int64_t rows) {
    CNX_CHECK(rows <= max_rows_, "more rows than planned");
    rows_ = rows;
}

template <class Out, class Kernel>
static void forward_rows(Kernel kernel, int64_t rows, int64_t C, RowsOf<Out> dst, float* mean, float* rstd, ConstRows src,
                         const float* gamma, const float* beta) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        kernel(dst.from(b, C), mean ? mean + b : nullptr, rstd ? rstd + b : nullptr, src.from(b, C), gamma, beta, e - b, C,
               kLayerNormEps);
    });
}

void LayerNorm::forward(Rows dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta) const {
    forward_rows(kernels().layernorm_fwd, rows_, C_, dst, mean, rstd, src, gamma, beta);
}

void LayerNorm::forward(RowsOf<bf16> dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta) const {
    forward_rows(kernels().layernorm_fwd_bf16, rows_, C_, dst, mean, rstd, src, gamma, beta);
}

void LayerNorm::backward(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src, const float* mean,
                         const float* rstd, const float* gamma) {
    const Kernels& k = kernels();
    const int64_t C = C_;
    partials_.clear();
    parallel_for(rows_, [&](int64_t b, int64_t e, int t) {
        float* part = partials_.slice(t);
        k.layernorm_bwd(d_src.from(b, C), part, part + C, d_dst.from(b, C), src.from(b, C), mean + b, rstd + b, gamma,
                        e - b, C);
    });
    partials_.reduce_into(d_gamma, 0, C);
    partials_.reduce_into(d_beta, C, C);
}

}  // namespace cnx
