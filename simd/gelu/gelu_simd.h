// GELU kernels over the vector traits of simd/vec.h (instantiated by simd/kernels_<isa>.cpp).
// gelu(x) = x * Phi(x); gelu'(x) = Phi(x) + x * phi(x), with Phi from normal_cdf (a few ulp).
#pragma once

#include "simd/vec.h"

namespace cnx {
namespace {

// Blocks of kCdfBlock full vectors (their math interleaved, simd/vec.h), then a masked tail vector.

template <class T>
void gelu_fwd_simd(float* y, const float* x, int64_t n) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth, K = kCdfBlock;
    const FullMask full{};
    int64_t i = 0;
    for (; i + K * W <= n; i += K * W) {
        V v[K], c[K];
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) v[k] = T::load(x + i + k * W, full);
        normal_cdf<T, K>(c, nullptr, v);
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) T::store(y + i + k * W, full, T::mul(v[k], c[k]));
    }
    for (; i < n; i += W) {
        const auto m = T::tail(n - i);
        V v[1], c[1];
        v[0] = T::load(x + i, m);
        normal_cdf<T, 1>(c, nullptr, v);
        T::store(y + i, m, T::mul(v[0], c[0]));
    }
}

template <class T>
void gelu_bwd_simd(float* dx, const float* dy, const float* x, int64_t n) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth, K = kCdfBlock;
    const FullMask full{};
    int64_t i = 0;
    for (; i + K * W <= n; i += K * W) {
        V v[K], c[K], p[K];
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) v[k] = T::load(x + i + k * W, full);
        normal_cdf<T, K>(c, p, v);
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) T::store(dx + i + k * W, full, T::mul(T::load(dy + i + k * W, full), T::fmadd(v[k], p[k], c[k])));
    }
    for (; i < n; i += W) {
        const auto m = T::tail(n - i);
        V v[1], c[1], p[1];
        v[0] = T::load(x + i, m);
        normal_cdf<T, 1>(c, p, v);
        T::store(dx + i, m, T::mul(T::load(dy + i, m), T::fmadd(v[0], p[0], c[0])));
    }
}

}  // namespace
}  // namespace cnx
