// GRN passes over the vector traits of simd/vec.h. The reductions keep up to grn_groups() channel groups
// of accumulators in registers and walk the rows once per chunk of groups, so a [rows, C] matrix
// larger than the caches streams through memory once, not once per channel group.
#pragma once

#include <algorithm>

#include "simd/grn/grn.h"
#include "simd/vec.h"

namespace cnx {
namespace {

template <class T>
constexpr int grn_groups() {
    return T::kWidth == 16 ? 8 : 4;
}

// sumsq[c] += sum_r v^2 with v = in (kGelu false) or v = gelu(in) written to out, as stored (kGelu true).
template <class T, bool kGelu, class Out, class In>
void grn_sumsq_pass(Out* out, float* sumsq, const In* in, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    for_each_chunk<T, grn_groups<T>()>(C, [&](int64_t c0, auto kGroups, auto m) {
        constexpr int kG = decltype(kGroups)::value;
        V acc[kG];
#pragma GCC unroll 8
        for (int g = 0; g < kG; g++) acc[g] = T::zero();
        for (int64_t r = 0; r < rows; r++) {
            const In* row = in + r * C + c0;
#pragma GCC unroll 8
            for (int g = 0; g < kG; g++) {
                V v[1] = {load_as<T>(row + g * W, m)};
                if constexpr (kGelu) {
                    V c[1];
                    normal_cdf<T, 1>(c, nullptr, v);
                    v[0] = store_kept<T>(out + r * C + c0 + g * W, m, T::mul(v[0], c[0]));
                }
                acc[g] = T::fmadd(v[0], v[0], acc[g]);
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < kG; g++) {
            float* s = sumsq + c0 + g * W;
            T::store(s, m, T::add(T::load(s, m), acc[g]));
        }
    });
}

template <class T>
void grn_sumsq_simd(float* sumsq, const float* x, int64_t rows, int64_t C) {
    grn_sumsq_pass<T, false>((float*)nullptr, sumsq, x, rows, C);
}

// GELU and the sum of squares. When C is a whole number of vectors, the rows form one flat array
// walked kCdfBlock vectors at a time (the GELU math interleaved, simd/vec.h), each vector's squares added to
// its channels' sums (an L1-resident slice); otherwise row by row.
template <class T, class Out, class In>
void grn_gelu_sumsq_as(Out* x, float* sumsq, const In* h, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    constexpr int64_t W = T::kWidth, K = kCdfBlock;
    if (C % W != 0) return grn_sumsq_pass<T, true>(x, sumsq, h, rows, C);
    const FullMask full{};
    const int64_t n = rows * C;
    int64_t i = 0;
    for (; i + K * W <= n; i += K * W) {
        V v[K], cdf[K];
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) v[k] = load_as<T>(h + i + k * W, full);
        normal_cdf<T, K>(cdf, nullptr, v);
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) {
            const V y = store_kept<T>(x + i + k * W, full, T::mul(v[k], cdf[k]));
            float* s = sumsq + (i + k * W) % C;
            T::store(s, full, T::fmadd(y, y, T::load(s, full)));
        }
    }
    for (; i < n; i += W) {
        V v[1] = {load_as<T>(h + i, full)}, cdf[1];
        normal_cdf<T, 1>(cdf, nullptr, v);
        const V y = store_kept<T>(x + i, full, T::mul(v[0], cdf[0]));
        float* s = sumsq + i % C;
        T::store(s, full, T::fmadd(y, y, T::load(s, full)));
    }
}

template <class T>
void grn_gelu_sumsq_simd(float* x, float* sumsq, const float* h, int64_t rows, int64_t C) {
    grn_gelu_sumsq_as<T>(x, sumsq, h, rows, C);
}

template <class T>
void grn_gelu_sumsq_bf16_simd(bf16* x, float* sumsq, const bf16* h, int64_t rows, int64_t C) {
    grn_gelu_sumsq_as<T>(x, sumsq, h, rows, C);
}

template <class T, class Out, class In>
void grn_apply_as(Out* y, const In* x, const float* nx, const float* gamma, const float* beta, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    for (int64_t r = 0; r < rows; r++) {
        const In* xr = x + r * C;
        Out* yr = y + r * C;
        for_each_group<T>(C, [&](int64_t c, auto m) {
            const V v = load_as<T>(xr + c, m);
            const V t = T::mul(v, T::load(nx + c, m));
            store_as<T>(yr + c, m, T::add(T::fmadd(T::load(gamma + c, m), t, T::load(beta + c, m)), v));
        });
    }
}

template <class T>
void grn_apply_simd(float* y, const float* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                    int64_t C) {
    grn_apply_as<T>(y, x, nx, gamma, beta, rows, C);
}

template <class T>
void grn_apply_bf16_simd(bf16* y, const bf16* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                         int64_t C) {
    grn_apply_as<T>(y, x, nx, gamma, beta, rows, C);
}

template <class T, class In>
void grn_bwd_reduce_as(float* s, float* b, const float* dy, const In* x, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    for_each_chunk<T, grn_groups<T>() / 2>(C, [&](int64_t c0, auto kGroups, auto m) {
        constexpr int kG = decltype(kGroups)::value;
        V as[kG], ab[kG];
#pragma GCC unroll 8
        for (int g = 0; g < kG; g++) as[g] = ab[g] = T::zero();
        for (int64_t r = 0; r < rows; r++) {
            const In* xr = x + r * C + c0;
            const float* gr = dy + r * C + c0;
#pragma GCC unroll 8
            for (int g = 0; g < kG; g++) {
                const V d = T::load(gr + g * W, m);
                as[g] = T::fmadd(d, load_as<T>(xr + g * W, m), as[g]);
                ab[g] = T::add(ab[g], d);
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < kG; g++) {
            const int64_t c = c0 + g * W;
            T::store(s + c, m, T::add(T::load(s + c, m), as[g]));
            T::store(b + c, m, T::add(T::load(b + c, m), ab[g]));
        }
    });
}

template <class T>
void grn_bwd_reduce_simd(float* s, float* b, const float* dy, const float* x, int64_t rows, int64_t C) {
    grn_bwd_reduce_as<T>(s, b, dy, x, rows, C);
}

template <class T>
void grn_bwd_reduce_bf16_simd(float* s, float* b, const float* dy, const bf16* x, int64_t rows, int64_t C) {
    grn_bwd_reduce_as<T>(s, b, dy, x, rows, C);
}

template <class T>
void grn_bwd_apply_simd(float* dx, const float* dy, const float* x, const float* nx, const float* gamma,
                        const float* k, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    const V one = T::set1(1.0f);
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        const float* gr = dy + r * C;
        float* dr = dx + r * C;
        for_each_group<T>(C, [&](int64_t c, auto m) {
            const V scale = T::fmadd(T::load(gamma + c, m), T::load(nx + c, m), one);
            T::store(dr + c, m, T::fmadd(T::load(xr + c, m), T::load(k + c, m), T::mul(T::load(gr + c, m), scale)));
        });
    }
}

// As grn_gelu_sumsq: flat and kCdfBlock vectors at a time when C is a whole number of vectors.
template <class T, class Out, class In>
void grn_bwd_apply_gelu_as(Out* dh, const float* dy, const In* x, const In* h, const float* nx, const float* gamma,
                           const float* k, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    using V = typename T::V;
    const V one = T::set1(1.0f);
    constexpr int64_t W = T::kWidth, K = kCdfBlock;
    if (C % W == 0) {
        const FullMask full{};
        const int64_t n = rows * C;
        for (int64_t i = 0; i < n; i += K * W) {
            const int kk = (int)std::min<int64_t>(K, (n - i) / W);
            V v[K], cdf[K], pdf[K];
            _Pragma("GCC unroll 8") for (int j = 0; j < K; j++) v[j] = j < kk ? load_as<T>(h + i + j * W, full) : T::zero();
            normal_cdf<T, K>(cdf, pdf, v);
            for (int j = 0; j < kk; j++) {
                const int64_t o = i + j * W, c = o % C;
                const V scale = T::fmadd(T::load(gamma + c, full), T::load(nx + c, full), one);
                const V d = T::fmadd(load_as<T>(x + o, full), T::load(k + c, full), T::mul(T::load(dy + o, full), scale));
                store_as<T>(dh + o, full, T::mul(d, T::fmadd(v[j], pdf[j], cdf[j])));
            }
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * C;
        for_each_group<T>(C, [&](int64_t c, auto m) {
            const V scale = T::fmadd(T::load(gamma + c, m), T::load(nx + c, m), one);
            const V dx = T::fmadd(load_as<T>(x + o + c, m), T::load(k + c, m), T::mul(T::load(dy + o + c, m), scale));
            V v[1] = {load_as<T>(h + o + c, m)}, cdf[1], pdf[1];
            normal_cdf<T, 1>(cdf, pdf, v);
            store_as<T>(dh + o + c, m, T::mul(dx, T::fmadd(v[0], pdf[0], cdf[0])));
        });
    }
}

template <class T>
void grn_bwd_apply_gelu_simd(float* dh, const float* dy, const float* x, const float* h, const float* nx,
                             const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_gelu_as<T>(dh, dy, x, h, nx, gamma, k, rows, C);
}

template <class T>
void grn_bwd_apply_gelu_bf16_simd(bf16* dh, const float* dy, const bf16* x, const bf16* h, const float* nx,
                                  const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_gelu_as<T>(dh, dy, x, h, nx, gamma, k, rows, C);
}

}  // namespace
}  // namespace cnx
