// GELU kernels over the vector traits of simd/vec.h (included by gelu_avx512.cpp / gelu_avx2.cpp).
// gelu(x) = x * Phi(x); gelu'(x) = Phi(x) + x * phi(x), with Phi from normal_cdf (a few ulp).
#pragma once

#include "simd/vec.h"

namespace cnx {
namespace {

template <class T>
void gelu_fwd_simd(float* y, const float* x, int64_t n) {
    using V = typename T::V;
    for (int64_t i = 0; i < n; i += T::kWidth) {
        const auto m = T::tail(n - i);
        V v = T::load(x + i, m);
        T::store(y + i, m, T::mul(v, normal_cdf<T>(v, nullptr)));
    }
}

template <class T>
void gelu_bwd_simd(float* dx, const float* dy, const float* x, int64_t n) {
    using V = typename T::V;
    for (int64_t i = 0; i < n; i += T::kWidth) {
        const auto m = T::tail(n - i);
        V v = T::load(x + i, m);
        V pdf;
        V cdf = normal_cdf<T>(v, &pdf);
        T::store(dx + i, m, T::mul(T::load(dy + i, m), T::fmadd(v, pdf, cdf)));
    }
}

}  // namespace
}  // namespace cnx
