// Scalar reference LayerNorm: two passes per row (mean, then centred variance), fp32 throughout.
#include <cmath>

#include "simd/kernels.h"

namespace cnx {

template <class Out, class In>
static void layernorm_fwd_ref_as(RowsOf<Out> dst, float* mean, float* rstd, RowsOf<const In> src, const float* gamma,
                                 const float* beta, int64_t rows, int64_t C, float eps) {
    layernorm_dcheck(dst.data, src.data, rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const In* x = src.row(r, C);
        Out* y = dst.row(r, C);
        float sum = 0.0f;
        for (int64_t c = 0; c < C; c++) sum += load_in(x + c);
        float mu = sum / (float)C;
        float var = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float d = load_in(x + c) - mu;
            var += d * d;
        }
        var /= (float)C;
        float rs = 1.0f / std::sqrt(var + eps);
        for (int64_t c = 0; c < C; c++) store_out(y + c, (load_in(x + c) - mu) * rs * gamma[c] + beta[c]);
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

void layernorm_fwd_ref(Rows dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta,
                       int64_t rows, int64_t C, float eps) {
    layernorm_fwd_ref_as(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

void layernorm_fwd_bf16_ref(RowsOf<bf16> dst, float* mean, float* rstd, RowsOf<const bf16> src, const float* gamma,
                            const float* beta, int64_t rows, int64_t C, float eps) {
    layernorm_fwd_ref_as(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

void layernorm_fwd_to_bf16_ref(RowsOf<bf16> dst, float* mean, float* rstd, ConstRows src, const float* gamma,
                               const float* beta, int64_t rows, int64_t C, float eps) {
    layernorm_fwd_ref_as(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

template <class In>
static void layernorm_bwd_ref_as(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const In> src,
                                 const float* mean, const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_dcheck(d_src.data, src.data, rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const In* x = src.row(r, C);
        const float* dy = d_dst.row(r, C);
        float* dx = d_src.row(r, C);
        float mu = mean[r], rs = rstd[r];
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float xhat = (load_in(x + c) - mu) * rs;
            float g = dy[c] * gamma[c];
            sum_g += g;
            sum_gx += g * xhat;
            d_gamma[c] += dy[c] * xhat;
            d_beta[c] += dy[c];
        }
        float mg = sum_g / (float)C, mgx = sum_gx / (float)C;
        for (int64_t c = 0; c < C; c++) {
            float xhat = (load_in(x + c) - mu) * rs;
            dx[c] = rs * (dy[c] * gamma[c] - mg - xhat * mgx);
        }
    }
}

void layernorm_bwd_ref(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src, const float* mean,
                       const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_bwd_ref_as(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, rows, C);
}

void layernorm_bwd_bf16_ref(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const bf16> src,
                            const float* mean, const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_bwd_ref_as(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, rows, C);
}

}  // namespace cnx
