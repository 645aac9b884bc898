// Depthwise 7x7 kernels over neighbour lists (DwAlgo::kLists, DwSparse) over the vector traits of
// simd/vec.h; instantiated by simd/kernels_<isa>.cpp.
#pragma once

#include <cstdint>

#include "simd/dwconv/dwconv_lists.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Submanifold lists (DwSparse). Channels in chunks of kGroups vectors held in registers while a site's
// entries stream past: each entry costs kGroups weight and kGroups input loads for kGroups FMAs. (The chunk loops must
// unroll, or the accumulators live on the stack.)
template <class T, int kGroups, bool kFlip, bool kAccumulate, class Out, class M>
inline void dws_conv_chunk(Out* out, const float* in, const float* wei, const float* bias, const DwSparse& sp,
                           int64_t s, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = sp.C;
    Out* o = out + (int64_t)sp.site[s] * C + c;
    V acc[kGroups];
#pragma GCC unroll 16
    for (int g = 0; g < kGroups; g++) acc[g] = kAccumulate ? load_as<T>(o + g * W, m) : T::load(bias + c + g * W, m);
    for (int32_t e = sp.begin[s]; e < sp.begin[s + 1]; e++) {
        const int64_t t = kFlip ? kDwTaps - 1 - sp.tap[e] : sp.tap[e];
        const float* k = wei + t * C + c;
        const float* x = in + (int64_t)sp.nbr[e] * C + c;
#pragma GCC unroll 16
        for (int g = 0; g < kGroups; g++) acc[g] = T::fmadd(T::load(k + g * W, m), T::load(x + g * W, m), acc[g]);
    }
#pragma GCC unroll 16
    for (int g = 0; g < kGroups; g++) store_as<T>(o + g * W, m, acc[g]);
}

// Chunks outer, sites inner: one chunk's weights (49 taps x kGroups vectors) stay in L1 across the sites.
// Chunks of up to 8 vectors.
template <class T, bool kFlip, bool kAccumulate, class Out>
void dws_conv(Out* out, const float* in, const float* wei, const float* bias, const DwSparse& sp) {
    dw_dcheck(sp);
    for_each_chunk<T>(sp.C, [&](int64_t c, auto kGroups, auto m) {
        for (int64_t s = sp.s0; s < sp.s1; s++) dws_conv_chunk<T, kGroups, kFlip, kAccumulate>(out, in, wei, bias, sp, s, c, m);
    });
}

// Sites s0 and s1 = s0 + 1 together (s1 == s0: one site). Their entries are in tap order; where both
// have a tap, the two products go into the tap's gradient row with one load and one store (those,
// not the FMAs, bound this kernel: every entry reads and writes its row).
template <class T, int kGroups, class M>
inline void dws_wei_chunk(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp,
                          int64_t s0, int64_t s1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = sp.C;
    const bool pair = s1 != s0;
    V g0[kGroups], g1[kGroups];
    const float* go0 = d_dst + (int64_t)sp.site[s0] * C + c;
    const float* go1 = d_dst + (int64_t)sp.site[s1] * C + c;
#pragma GCC unroll 16
    for (int i = 0; i < kGroups; i++) {
        g0[i] = T::load(go0 + i * W, m);
        g1[i] = pair ? T::load(go1 + i * W, m) : T::zero();
        T::store(d_bias + c + i * W, m, T::add(T::load(d_bias + c + i * W, m), T::add(g0[i], g1[i])));
    }
    auto one = [&](const V* g, int32_t e) {
        float* k = d_wei + (int64_t)sp.tap[e] * C + c;
        const float* x = src + (int64_t)sp.nbr[e] * C + c;
#pragma GCC unroll 16
        for (int i = 0; i < kGroups; i++) T::store(k + i * W, m, T::fmadd(g[i], T::load(x + i * W, m), T::load(k + i * W, m)));
    };
    int32_t e = sp.begin[s0], f = pair ? sp.begin[s1] : 0;
    const int32_t e_end = sp.begin[s0 + 1], f_end = pair ? sp.begin[s1 + 1] : 0;
    while (e < e_end && f < f_end) {
        const int32_t te = sp.tap[e], tf = sp.tap[f];
        if (te == tf) {
            float* k = d_wei + (int64_t)te * C + c;
            const float* x0 = src + (int64_t)sp.nbr[e] * C + c;
            const float* x1 = src + (int64_t)sp.nbr[f] * C + c;
#pragma GCC unroll 16
            for (int i = 0; i < kGroups; i++) {
                const V k0 = T::fmadd(g0[i], T::load(x0 + i * W, m), T::load(k + i * W, m));
                T::store(k + i * W, m, T::fmadd(g1[i], T::load(x1 + i * W, m), k0));
            }
            e++;
            f++;
        } else if (te < tf) {
            one(g0, e++);
        } else {
            one(g1, f++);
        }
    }
    for (; e < e_end; e++) one(g0, e);
    for (; f < f_end; f++) one(g1, f);
}

// As dws_conv, chunks outer: the chunk's 49 weight-gradient rows stay in L1. Sites in pairs; chunks
// of up to 8 vectors on AVX-512, 4 on AVX2 (two sites' d_dst vectors stay in registers).
template <class T>
void dws_bwd_wei(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp) {
    dw_dcheck(sp);
    for_each_chunk<T, T::kWidth == 16 ? 8 : 4>(sp.C, [&](int64_t c, auto kGroups, auto m) {
        int64_t s = sp.s0;
        for (; s + 2 <= sp.s1; s += 2) dws_wei_chunk<T, kGroups>(d_wei, d_bias, d_dst, src, sp, s, s + 1, c, m);
        if (s < sp.s1) dws_wei_chunk<T, kGroups>(d_wei, d_bias, d_dst, src, sp, s, s, c, m);
    });
}

// The kernel list's entry points (simd/kernels.inc).
template <class T>
void dwconv_sparse_fwd_simd(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dws_conv<T, false, false>(dst, src, wei, bias, sp);
}
template <class T>
void dwconv_sparse_fwd_bf16_simd(bf16* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dws_conv<T, false, false>(dst, src, wei, bias, sp);
}
template <class T>
void dwconv_sparse_bwd_data_simd(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp) {
    dws_conv<T, true, true>(d_src, d_dst, wei, nullptr, sp);
}
template <class T>
void dwconv_sparse_bwd_wei_simd(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp) {
    dws_bwd_wei<T>(d_wei, d_bias, d_dst, src, sp);
}

}  // namespace
}  // namespace cnx
