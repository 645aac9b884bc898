// LayerNorm kernels over the vector traits of simd/vec.h: per row, a sum pass, a centred-variance
// pass and the affine pass, vectorised along C with a masked tail (row data stays in L1).
#pragma once

#include <algorithm>
#include <cmath>

#include "core/prefetch.h"
#include "simd/layernorm/layernorm.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Rows are handled K at a time with independent chains, so the latencies of the horizontal sums and
// the square root overlap instead of stalling every row.
template <class T, int K, class Out, class In>
inline void layernorm_fwd_rows(RowsOf<Out> dst, float* mean, float* rstd, RowsOf<const In> src, const float* gamma,
                               const float* beta, int64_t r0, int64_t C, float eps) {
    using V = typename T::V;
    const In* x[K];
    Out* y[K];
    V s[K], q[K], vmu[K], vrs[K];
    float mu[K], rs[K];
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        x[k] = src.row(r0 + k, C);
        y[k] = dst.row(r0 + k, C);
        s[k] = q[k] = T::zero();
    }
    for_each_group<T>(C, [&](int64_t c, auto m) {
        #pragma GCC unroll 8
        for (int k = 0; k < K; k++) s[k] = T::add(s[k], load_as<T>(x[k] + c, m));
    });
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        mu[k] = T::reduce_add(s[k]) / (float)C;
        vmu[k] = T::set1(mu[k]);
    }
    for_each_group<T>(C, [&](int64_t c, auto m) {
        #pragma GCC unroll 8
        for (int k = 0; k < K; k++) {
            const V d = T::keep(m, T::sub(load_as<T>(x[k] + c, m), vmu[k]));
            q[k] = T::fmadd(d, d, q[k]);
        }
    });
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        rs[k] = 1.0f / std::sqrt(T::reduce_add(q[k]) / (float)C + eps);
        vrs[k] = T::set1(rs[k]);
    }
    for_each_group<T>(C, [&](int64_t c, auto m) {
        const V g = T::load(gamma + c, m), b = T::load(beta + c, m);
        #pragma GCC unroll 8
        for (int k = 0; k < K; k++) {
            const V xhat = T::mul(T::sub(load_as<T>(x[k] + c, m), vmu[k]), vrs[k]);
            store_as<T>(y[k] + c, m, T::fmadd(xhat, g, b));
        }
    });
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        if (mean) mean[r0 + k] = mu[k];
        if (rstd) rstd[r0 + k] = rs[k];
    }
}

// Software prefetch of the rows `ahead` rows on: a row block depends on its own loads (sum, then
// variance, then the affine pass), which the hardware prefetcher alone does not run ahead of.
inline int64_t ln_prefetch_rows(int64_t C) { return std::max<int64_t>(8, 4096 / (C * 4)); }
template <class E>
inline void ln_prefetch(RowsOf<const E> t, int64_t r, int64_t rows, int64_t C) {
    if (r < rows) prefetch_bytes(t.row(r, C), C * (int64_t)sizeof(E));
}

template <class T, class Out, class In>
void layernorm_fwd_as(RowsOf<Out> dst, float* mean, float* rstd, RowsOf<const In> src, const float* gamma, const float* beta,
                      int64_t rows, int64_t C, float eps) {
    layernorm_dcheck(dst.data, src.data, rows, C);
    const int64_t ahead = ln_prefetch_rows(C);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        for (int k = 0; k < 4; k++) ln_prefetch(src, r + k + ahead, rows, C);
        layernorm_fwd_rows<T, 4>(dst, mean, rstd, src, gamma, beta, r, C, eps);
    }
    for (; r < rows; r++) layernorm_fwd_rows<T, 1>(dst, mean, rstd, src, gamma, beta, r, C, eps);
}

template <class T>
void layernorm_fwd_simd(Rows dst, float* mean, float* rstd, ConstRows src, const float* gamma, const float* beta,
                        int64_t rows, int64_t C, float eps) {
    layernorm_fwd_as<T>(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

template <class T>
void layernorm_fwd_bf16_simd(RowsOf<bf16> dst, float* mean, float* rstd, RowsOf<const bf16> src, const float* gamma,
                             const float* beta, int64_t rows, int64_t C, float eps) {
    layernorm_fwd_as<T>(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

template <class T>
void layernorm_fwd_to_bf16_simd(RowsOf<bf16> dst, float* mean, float* rstd, ConstRows src, const float* gamma,
                                const float* beta, int64_t rows, int64_t C, float eps) {
    layernorm_fwd_as<T>(dst, mean, rstd, src, gamma, beta, rows, C, eps);
}

template <class T, int K, class In>
inline void layernorm_bwd_rows(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const In> src,
                               const float* mean, const float* rstd, const float* gamma, int64_t r0, int64_t C) {
    using V = typename T::V;
    const In* x[K];
    const float* dy[K];
    float* dx[K];
    V vmu[K], vrs[K], sg[K], sgx[K], mg[K], mgx[K];
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        x[k] = src.row(r0 + k, C);
        dy[k] = d_dst.row(r0 + k, C);
        dx[k] = d_src.row(r0 + k, C);
        vmu[k] = T::set1(mean[r0 + k]);
        vrs[k] = T::set1(rstd[r0 + k]);
        sg[k] = sgx[k] = T::zero();
    }
    for_each_group<T>(C, [&](int64_t c, auto m) {
        const V gam = T::load(gamma + c, m);
        V dg = T::load(d_gamma + c, m), db = T::load(d_beta + c, m);
        #pragma GCC unroll 8
        for (int k = 0; k < K; k++) {
            const V xhat = T::mul(T::sub(load_as<T>(x[k] + c, m), vmu[k]), vrs[k]);
            const V g = T::load(dy[k] + c, m);
            const V gg = T::mul(g, gam);
            sg[k] = T::add(sg[k], gg);
            sgx[k] = T::fmadd(gg, xhat, sgx[k]);
            dg = T::fmadd(g, xhat, dg);
            db = T::add(g, db);
        }
        T::store(d_gamma + c, m, dg);
        T::store(d_beta + c, m, db);
    });
    #pragma GCC unroll 8
    for (int k = 0; k < K; k++) {
        mg[k] = T::set1(T::reduce_add(sg[k]) / (float)C);
        mgx[k] = T::set1(T::reduce_add(sgx[k]) / (float)C);
    }
    for_each_group<T>(C, [&](int64_t c, auto m) {
        const V gam = T::load(gamma + c, m);
        #pragma GCC unroll 8
        for (int k = 0; k < K; k++) {
            const V xhat = T::mul(T::sub(load_as<T>(x[k] + c, m), vmu[k]), vrs[k]);
            const V gg = T::mul(T::load(dy[k] + c, m), gam);
            T::store(dx[k] + c, m, T::mul(vrs[k], T::fnmadd(xhat, mgx[k], T::sub(gg, mg[k]))));
        }
    });
}

// d_src may alias d_dst: each row's gradient is read in full before that row is written.
template <class T, class In>
void layernorm_bwd_as(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const In> src, const float* mean,
                      const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_dcheck(d_src.data, src.data, rows, C);
    const int64_t ahead = ln_prefetch_rows(C);
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        for (int k = 0; k < 4; k++) {
            ln_prefetch(src, r + k + ahead, rows, C);
            ln_prefetch(d_dst, r + k + ahead, rows, C);
        }
        layernorm_bwd_rows<T, 4>(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, r, C);
    }
    for (; r < rows; r++) layernorm_bwd_rows<T, 1>(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, r, C);
}

template <class T>
void layernorm_bwd_simd(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, ConstRows src, const float* mean,
                        const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_bwd_as<T>(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, rows, C);
}

template <class T>
void layernorm_bwd_bf16_simd(Rows d_src, float* d_gamma, float* d_beta, ConstRows d_dst, RowsOf<const bf16> src,
                             const float* mean, const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_bwd_as<T>(d_src, d_gamma, d_beta, d_dst, src, mean, rstd, gamma, rows, C);
}

}  // namespace
}  // namespace cnx
