// LayerNorm kernels over the vector traits of simd/vec.h: per row, a sum pass, a centred-variance
// pass and the affine pass, vectorised along C with a masked tail (row data stays in L1).
#pragma once

#include "simd/layernorm/layernorm.h"
#include "simd/vec.h"

namespace cnx {
namespace {

inline int64_t ln_row(const int64_t* off, int64_t r, int64_t C) { return off ? off[r] : r * C; }

template <class T>
void layernorm_fwd_simd(float* dst, const int64_t* dst_off, float* mean, float* rstd, const float* src,
                        const int64_t* src_off, const float* gamma, const float* beta, int64_t rows, int64_t C,
                        float eps) {
    using V = typename T::V;
    for (int64_t r = 0; r < rows; r++) {
        const float* x = src + ln_row(src_off, r, C);
        float* y = dst + ln_row(dst_off, r, C);
        V s = T::zero();
        for (int64_t c = 0; c < C; c += T::kWidth) s = T::add(s, T::load(x + c, T::tail(C - c)));
        const float mu = T::reduce_add(s) / (float)C;
        const V vmu = T::set1(mu);
        V q = T::zero();
        for (int64_t c = 0; c < C; c += T::kWidth) {
            const auto m = T::tail(C - c);
            const V d = T::keep(m, T::sub(T::load(x + c, m), vmu));
            q = T::fmadd(d, d, q);
        }
        const float rs = 1.0f / std::sqrt(T::reduce_add(q) / (float)C + eps);
        const V vrs = T::set1(rs);
        for (int64_t c = 0; c < C; c += T::kWidth) {
            const auto m = T::tail(C - c);
            const V xhat = T::mul(T::sub(T::load(x + c, m), vmu), vrs);
            T::store(y + c, m, T::fmadd(xhat, T::load(gamma + c, m), T::load(beta + c, m)));
        }
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

template <class T>
void layernorm_bwd_simd(float* d_src, const int64_t* d_src_off, float* d_gamma, float* d_beta, const float* d_dst,
                        const int64_t* d_dst_off, const float* src, const int64_t* src_off, const float* mean,
                        const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    using V = typename T::V;
    for (int64_t r = 0; r < rows; r++) {
        const float* x = src + ln_row(src_off, r, C);
        const float* dy = d_dst + ln_row(d_dst_off, r, C);
        float* dx = d_src + ln_row(d_src_off, r, C);
        const V vmu = T::set1(mean[r]), vrs = T::set1(rstd[r]);
        V sg = T::zero(), sgx = T::zero();
        for (int64_t c = 0; c < C; c += T::kWidth) {
            const auto m = T::tail(C - c);
            const V xhat = T::mul(T::sub(T::load(x + c, m), vmu), vrs);
            const V g = T::load(dy + c, m);
            const V gg = T::mul(g, T::load(gamma + c, m));
            sg = T::add(sg, gg);
            sgx = T::fmadd(gg, xhat, sgx);
            T::store(d_gamma + c, m, T::fmadd(g, xhat, T::load(d_gamma + c, m)));
            T::store(d_beta + c, m, T::add(g, T::load(d_beta + c, m)));
        }
        const V mg = T::set1(T::reduce_add(sg) / (float)C);
        const V mgx = T::set1(T::reduce_add(sgx) / (float)C);
        for (int64_t c = 0; c < C; c += T::kWidth) {
            const auto m = T::tail(C - c);
            const V xhat = T::mul(T::sub(T::load(x + c, m), vmu), vrs);
            const V gg = T::mul(T::load(dy + c, m), T::load(gamma + c, m));
            T::store(dx + c, m, T::mul(vrs, T::fnmadd(xhat, mgx, T::sub(gg, mg))));
        }
    }
}

}  // namespace
}  // namespace cnx
