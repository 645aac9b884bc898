// AdamW over the vector traits of simd/vec.h, in the reference's order of operations (a true
// division and square root, so results match the scalar reference closely).
#pragma once

#include "simd/adamw/adamw.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// kCopy: also write the updated param rounded to bf16 into param16.
template <class T, bool kCopy>
void adamw_as(float* param, bf16* param16, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    adamw_dcheck(n, s);
    using V = typename T::V;
    const V decay = T::set1(s->decay);
    const V step_size = T::set1(s->step_size);
    const V one_b1 = T::set1(s->one_minus_beta1), b2 = T::set1(s->beta2), one_b2 = T::set1(s->one_minus_beta2);
    const V bc2 = T::set1(s->bias_correction2_sqrt), eps = T::set1(s->eps);
    for_each_group<T>(n, [&](int64_t i, auto k) {
        const V g = T::load(grad + i, k);
        const V p = T::mul(T::load(param + i, k), decay);
        V mi = T::load(m + i, k);
        mi = T::fmadd(one_b1, T::sub(g, mi), mi);
        const V vi = T::fmadd(b2, T::load(v + i, k), T::mul(one_b2, T::mul(g, g)));
        const V denom = T::add(T::div(T::sqrt(vi), bc2), eps);
        const V updated = T::fnmadd(step_size, T::div(mi, denom), p);
        T::store(param + i, k, updated);
        if (kCopy) T::store_bf16(param16 + i, k, updated);
        T::store(m + i, k, mi);
        T::store(v + i, k, vi);
    });
}

template <class T>
void adamw_simd(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    adamw_as<T, false>(param, nullptr, m, v, grad, n, s);
}

template <class T>
void adamw_bf16_simd(float* param, bf16* param16, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    CNX_DCHECK(param16 != nullptr, "adamw_bf16: no bf16 copy");
    adamw_as<T, true>(param, param16, m, v, grad, n, s);
}

}  // namespace
}  // namespace cnx
