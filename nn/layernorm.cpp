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

// Row r's start when rows are contiguous (off == null) or given by offsets.
static inline float* rows_from(float* base, const int64_t* off, int64_t r, int64_t C) {
    return off ? base : base + r * C;
}
static inline const int64_t* offs_from(const int64_t* off, int64_t r) { return off ? off + r : nullptr; }

void LayerNorm::forward(float* dst, const int64_t* dst_off, float* mean, float* rstd, const float* src,
                        const int64_t* src_off, const float* gamma, const float* beta) const {
    const Kernels& k = kernels();
    const int64_t C = C_;
    parallel_for(rows_, [&](int64_t b, int64_t e, int) {
        k.layernorm_fwd(rows_from(dst, dst_off, b, C), offs_from(dst_off, b), mean ? mean + b : nullptr,
                        rstd ? rstd + b : nullptr, rows_from(const_cast<float*>(src), src_off, b, C),
                        offs_from(src_off, b), gamma, beta, e - b, C, kLayerNormEps);
    });
}

void LayerNorm::backward(float* d_src, const int64_t* d_src_off, float* d_gamma, float* d_beta, const float* d_dst,
                         const int64_t* d_dst_off, const float* src, const int64_t* src_off, const float* mean,
                         const float* rstd, const float* gamma) {
    const Kernels& k = kernels();
    const int64_t C = C_;
    partials_.clear();
    parallel_for(rows_, [&](int64_t b, int64_t e, int t) {
        float* part = partials_.slice(t);
        k.layernorm_bwd(rows_from(d_src, d_src_off, b, C), offs_from(d_src_off, b), part, part + C,
                        rows_from(const_cast<float*>(d_dst), d_dst_off, b, C), offs_from(d_dst_off, b),
                        rows_from(const_cast<float*>(src), src_off, b, C), offs_from(src_off, b), mean + b,
                        rstd + b, gamma, e - b, C);
    });
    partials_.reduce_into(d_gamma, 0, C);
    partials_.reduce_into(d_beta, C, C);
}

}  // namespace cnx
