// fp32 <-> bf16 conversion kernels over the vector traits of simd/vec.h (their load_bf16 and
// store_bf16: an exact integer sequence on AVX2 and AVX-512, the native instruction on AVX512-BF16).
#pragma once

#include "simd/vec.h"

namespace cnx {
namespace {

template <class T>
void bf16_from_f32_simd(bf16* dst, const float* src, int64_t n) {
    bf16_dcheck(dst, src, n);
    for_each_group<T>(n, [&](int64_t i, auto m) { T::store_bf16(dst + i, m, T::load(src + i, m)); });
}

template <class T>
void f32_from_bf16_simd(float* dst, const bf16* src, int64_t n) {
    bf16_dcheck(dst, src, n);
    for_each_group<T>(n, [&](int64_t i, auto m) { T::store(dst + i, m, T::load_bf16(src + i, m)); });
}

}  // namespace
}  // namespace cnx
