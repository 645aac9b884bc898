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

template <class Out, class In, class Kernel>
static void forward_rows(Kernel kernel, int64_t rows, int64_t C, RowsOf<Out> dst, float* mean, float* rstd, RowsOf<const In> src,
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
    forward_rows(kernels().layernorm_fwd_to_bf16, rows_, C_, dst, mean, rstd, src, gamma, beta);
}

void LayerNorm::forward(RowsOf<bf16> dst, float* mean, float* rstd, RowsOf<const bf16> src, const float* gamma, const float* beta) const {
    forward_rows(kernels().layernorm_fwd_bf16, rows_, C_, dst, mean, rstd, src, gamma, beta);
}

template <class In, class Kernel>
void LayerNorm::backward_as(Kernel kernel, Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const In> src,
                            const float* mean, const float* rstd, const float* gamma) {
    const int64_t C = C_;
    partials_.clear();
    parallel_for(rows_, [&](int64_t b, int64_t e, int t) {
        float* part = partials_.slice(t);
        kernel(d_src.from(b, C), part, part + C, d_dst.from(b, C), src.from(b, C), mean + b, rstd + b, gamma, e - b, C);
    });
    partials_.reduce_into(d_gamma, 0, C);
    partials_.reduce_into(d_beta, C, C);
}

void LayerNorm::backward(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src, const float* mean,
                         const float* rstd, const float* gamma) {
    backward_as(kernels().layernorm_bwd, d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma);
}

void LayerNorm::backward(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const bf16> src, const float* mean,
                         const float* rstd, const float* gamma) {
    backward_as(kernels().layernorm_bwd_bf16, d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma);
}

}  // namespace cnx
