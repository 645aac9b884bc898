// GELU kernels over the vector traits of simd/vec.h (instantiated by simd/kernels_<isa>.cpp).
// gelu(x) = x * Phi(x); gelu'(x) = Phi(x) + x * phi(x), with Phi from normal_cdf (a few ulp).
#pragma once

#include "simd/vec.h"

namespace cnx {
namespace {

// Chunks of up to kCdfBlock vectors (their math interleaved, simd/vec.h), then a masked tail vector.

template <class T>
void gelu_fwd_simd(float* y, const float* x, int64_t n) {
    gelu_dcheck(y, x, n);
    using V = typename T::V;
    for_each_chunk<T, kCdfBlock>(n, [&](int64_t i, auto kVectors, auto m) {
        constexpr int K = decltype(kVectors)::value;
        V v[K], c[K];
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) v[k] = T::load(x + i + k * T::kWidth, m);
        normal_cdf<T, K>(c, nullptr, v);
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) T::store(y + i + k * T::kWidth, m, T::mul(v[k], c[k]));
    });
}

template <class T>
void gelu_bwd_simd(float* dx, const float* dy, const float* x, int64_t n) {
    gelu_dcheck(dx, x, n);
    using V = typename T::V;
    for_each_chunk<T, kCdfBlock>(n, [&](int64_t i, auto kVectors, auto m) {
        constexpr int K = decltype(kVectors)::value;
        V v[K], c[K], p[K];
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) v[k] = T::load(x + i + k * T::kWidth, m);
        normal_cdf<T, K>(c, p, v);
        _Pragma("GCC unroll 8") for (int k = 0; k < K; k++) {
            const V d = T::fmadd(v[k], p[k], c[k]);
            T::store(dx + i + k * T::kWidth, m, T::mul(T::load(dy + i + k * T::kWidth, m), d));
        }
    });
}

}  // namespace
}  // namespace cnx
