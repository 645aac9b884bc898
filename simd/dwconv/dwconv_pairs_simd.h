// Depthwise 7x7 kernels over pairs of visible 2x2 tiles (DwAlgo::kPairs, DwPairs) over the vector
// traits of simd/vec.h; instantiated by simd/kernels_<isa>.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simd/dwconv/dwconv_pairs.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Tile pairs (DwPairs), one class at a time. kRow, kCol: -1 for dy (dx) = -2, +1 for +2, 0 for
// |dy| <= 1. At distance 2 only u = iy - oy = -kRow stays inside the kernel: one output row of P
// meets one input row of Q. Conditions on the unrolled loop indices fold at compile time, so a
// class loads and multiplies only what lands inside the kernel.
constexpr bool dwp_meets(int k, int u) { return k == 0 || u == -k; }
constexpr bool dwp_out_used(int k, int o) { return k == 0 || o == (k > 0 ? 1 : 0); }
constexpr bool dwp_in_used(int k, int i) { return k == 0 || i == (k > 0 ? 0 : 1); }

// f(oy, ox) for each site of P a class uses.
template <int kRow, int kCol, class F>
__attribute__((always_inline)) inline void dwp_out_sites(F&& f) {
#pragma GCC unroll 2
    for (int oy = 0; oy < kDwPairTile; oy++)
#pragma GCC unroll 2
        for (int ox = 0; ox < kDwPairTile; ox++)
            if (dwp_out_used(kRow, oy) && dwp_out_used(kCol, ox)) f(oy, ox);
}

// For each site (iy, ix) of Q a class uses and each of the kGroups groups: its vector x from xq, and
// f(oy, ox, u, v, i, x) for every site of P it meets through tap offset (u, v) = (iy - oy, ix - ox).
template <class T, int kGroups, int kRow, int kCol, class M, class F>
__attribute__((always_inline)) inline void dwp_products(const float* xq, int64_t W, int64_t C, M m, F&& f) {
    constexpr int P = kDwPairTile;
#pragma GCC unroll 2
    for (int iy = 0; iy < P; iy++)
#pragma GCC unroll 2
        for (int ix = 0; ix < P; ix++)
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) {
                if (!dwp_in_used(kRow, iy) || !dwp_in_used(kCol, ix)) continue;
                const typename T::V x = T::load(xq + (iy * W + ix) * C + i * T::kWidth, m);
#pragma GCC unroll 2
                for (int oy = 0; oy < P; oy++)
#pragma GCC unroll 2
                    for (int ox = 0; ox < P; ox++)
                        if (dwp_meets(kRow, iy - oy) && dwp_meets(kCol, ix - ox)) f(oy, ox, iy - oy, ix - ox, i, x);
            }
}

template <class T, int kGroups, int kRow, int kCol, class M>
inline void dwp_class(float* d_wei, const float* d_dst, const float* src, const DwPairs& pp, int k, int32_t e0,
                      int32_t e1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    constexpr int P = kDwPairTile;
    const int64_t C = pp.C, W = pp.W;
    if (e0 == e1) return;
    V acc[3][3][kGroups];  // tap (3 + 2dy + u, 3 + 2dx + v) at [u + 1][v + 1]
#pragma GCC unroll 3
    for (int u = 0; u < 3; u++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) acc[u][v][i] = T::zero();
    // The centre tap takes 4 products per pair, a chain of 4 FMA latencies: the products of output
    // row 1 go to a second sum.
    V centre2[kGroups];
#pragma GCC unroll 2
    for (int i = 0; i < kGroups; i++) centre2[i] = T::zero();
    for (int32_t e = e0; e < e1; e++) {
        const float* go = d_dst + (int64_t)pp.out[e] * C + c;
        const float* xq = src + (int64_t)pp.in[e] * C + c;
        V g[P][P][kGroups];
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) g[oy][ox][i] = T::load(go + (oy * W + ox) * C + i * VW, m);
        });
        dwp_products<T, kGroups, kRow, kCol>(xq, W, C, m, [&](int oy, int ox, int u, int v, int i, V x) {
            V& a = u == 0 && v == 0 && oy == 1 ? centre2[i] : acc[u + 1][v + 1][i];
            a = T::fmadd(g[oy][ox][i], x, a);
        });
    }
#pragma GCC unroll 2
    for (int i = 0; i < kGroups; i++) acc[1][1][i] = T::add(acc[1][1][i], centre2[i]);
    const int dy = k / 5 - 2, dx = k % 5 - 2;
#pragma GCC unroll 3
    for (int u = -1; u <= 1; u++)
#pragma GCC unroll 3
        for (int v = -1; v <= 1; v++) {
            if (!dwp_meets(kRow, u) || !dwp_meets(kCol, v)) continue;
            float* kr = d_wei + ((kDwPad + P * dy + u) * kDwK + (kDwPad + P * dx + v)) * C + c;
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) T::store(kr + i * VW, m, T::add(T::load(kr + i * VW, m), acc[u + 1][v + 1][i]));
        }
}

// Blocks of this many tiles P (a few images' visible tiles at stage 3): a block's tiles and their
// neighbours stay in L1 across the 25 class passes of a chunk.
constexpr int64_t kDwPairBlock = 32;

// The driver of the tile-pair kernels: blocks of kDwPairBlock tiles; in a block, the channel chunks
// (2 vectors on AVX-512, 1 on AVX2: a class's 9 x kGroups tap vectors, 4 x kGroups vectors of one tile and an
// input vector fit the registers); in a chunk, the 25 classes (class 12 first when kMidFirst):
// f(k, e0, e1, c, kGroups, mask, kRow, kCol) for class k's pairs [e0, e1) in the block, then
// chunk_done(e0, e1, c, kGroups, mask) with class 12's pairs (every tile of the block once).
template <class T, bool kMidFirst, class F, class Done>
void dwp_drive(const DwPairs& pp, F&& f, Done&& chunk_done) {
    using ic_lo = std::integral_constant<int, -1>;
    using ic_mid = std::integral_constant<int, 0>;
    using ic_hi = std::integral_constant<int, 1>;
    constexpr int kMid = kDwPairClasses / 2;
    // class k's pairs: [lo[k], hi[k]) in the current block of tiles, up to end[k] in the call
    int32_t lo[kDwPairClasses], hi[kDwPairClasses], end[kDwPairClasses];
    for (int k = 0; k < kDwPairClasses; k++) dw_pairs_range(pp, k, &lo[k], &end[k]);
    for (int64_t tb = pp.t0; tb < pp.t1; tb += kDwPairBlock) {
        const int32_t t_end = (int32_t)std::min(pp.t1, tb + kDwPairBlock);
        for (int k = 0; k < kDwPairClasses; k++) {
            hi[k] = lo[k];
            while (hi[k] < end[k] && pp.tile[hi[k]] < t_end) hi[k]++;
        }
        for_each_chunk<T, T::kWidth == 16 ? 2 : 1>(pp.C, [&](int64_t c, auto kGroups, auto m) {
            for (int n = 0; n < kDwPairClasses; n++) {
                const int k = !kMidFirst ? n : n == 0 ? kMid : n <= kMid ? n - 1 : n;
                const int dy = k / 5 - 2, dx = k % 5 - 2;
                auto run = [&](auto kRow, auto kCol) { f(k, lo[k], hi[k], c, kGroups, m, kRow, kCol); };
                auto cols = [&](auto kRow) { dx == -2 ? run(kRow, ic_lo{}) : dx == 2 ? run(kRow, ic_hi{}) : run(kRow, ic_mid{}); };
                dy == -2 ? cols(ic_lo{}) : dy == 2 ? cols(ic_hi{}) : cols(ic_mid{});
            }
            chunk_done(lo[kMid], hi[kMid], c, kGroups, m);
        });
        for (int k = 0; k < kDwPairClasses; k++) lo[k] = hi[k];
    }
}

// The weight gradient: a class's 9 tap gradients stay in registers across its pairs, where the
// lists' kernel (dws_bwd_wei) loads and stores a gradient row per product.
template <class T>
void dwp_bwd_wei(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dw_dcheck(pp);
    dwp_drive<T, false>(
        pp,
        [&](int k, int32_t e0, int32_t e1, int64_t c, auto kGroups, auto m, auto kRow, auto kCol) {
            dwp_class<T, kGroups, kRow, kCol>(d_wei, d_dst, src, pp, k, e0, e1, c, m);
        },
        // bias: a sum per site of the tile (4 chains)
        [&](int32_t e0, int32_t e1, int64_t c, auto kGroups, auto m) {
            for (int i = 0; i < kGroups; i++) {
                const int64_t ci = c + i * T::kWidth;
                typename T::V b[kDwPairTile * kDwPairTile];
                for (int q = 0; q < kDwPairTile * kDwPairTile; q++) b[q] = T::zero();
                for (int32_t e = e0; e < e1; e++)
#pragma GCC unroll 4
                    for (int q = 0; q < kDwPairTile * kDwPairTile; q++)
                        b[q] = T::add(b[q], T::load(d_dst + (pp.out[e] + q / kDwPairTile * pp.W + q % kDwPairTile) * pp.C + ci, m));
                T::store(d_bias + ci, m, T::add(T::load(d_bias + ci, m), T::add(T::add(b[0], b[1]), T::add(b[2], b[3]))));
            }
        });
}

// The convolution over one class of tile pairs: out[site of P] (+)= sum of tap x in[site of Q], the
// class's 9 tap vectors in registers (flipped for backward-data: P's input gradient from Q's output
// gradient), each pair loading and storing P's 4 sites once for up to 16 products. kInit: the
// outputs start from the bias (class 12, Q = P, first in the forward) instead of their old values.
template <class T, int kGroups, int kRow, int kCol, bool kFlip, bool kInit, class M>
inline void dwp_conv_class(float* out, const float* in, const float* wei, const float* bias, const DwPairs& pp, int k,
                           int32_t e0, int32_t e1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    constexpr int P = kDwPairTile;
    const int64_t C = pp.C, W = pp.W;
    if (e0 == e1) return;
    const int dy = k / 5 - 2, dx = k % 5 - 2;
    V w[3][3][kGroups];  // tap (3 + 2dy + u, 3 + 2dx + v) at [u + 1][v + 1]
#pragma GCC unroll 3
    for (int u = -1; u <= 1; u++)
#pragma GCC unroll 3
        for (int v = -1; v <= 1; v++) {
            if (!dwp_meets(kRow, u) || !dwp_meets(kCol, v)) continue;
            const int64_t tap = (kDwPad + P * dy + u) * kDwK + (kDwPad + P * dx + v);
            const float* kr = wei + (kFlip ? kDwTaps - 1 - tap : tap) * C + c;
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) w[u + 1][v + 1][i] = T::load(kr + i * VW, m);
        }
    for (int32_t e = e0; e < e1; e++) {
        float* po = out + (int64_t)pp.out[e] * C + c;
        const float* xq = in + (int64_t)pp.in[e] * C + c;
        V acc[P][P][kGroups];
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) acc[oy][ox][i] = T::load((kInit ? bias + c : po + (oy * W + ox) * C) + i * VW, m);
        });
        dwp_products<T, kGroups, kRow, kCol>(xq, W, C, m, [&](int oy, int ox, int u, int v, int i, V x) {
            acc[oy][ox][i] = T::fmadd(w[u + 1][v + 1][i], x, acc[oy][ox][i]);
        });
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < kGroups; i++) T::store(po + (oy * W + ox) * C + i * VW, m, acc[oy][ox][i]);
        });
    }
}

// Forward (kFlip false: class 12 first, starting from the bias) and backward-data (kFlip: adds).
template <class T, bool kFlip>
void dwp_conv(float* out, const float* in, const float* wei, const float* bias, const DwPairs& pp) {
    dw_dcheck(pp);
    dwp_drive<T, !kFlip>(
        pp,
        [&](int k, int32_t e0, int32_t e1, int64_t c, auto kGroups, auto m, auto kRow, auto kCol) {
            if constexpr (!kFlip && kRow == 0 && kCol == 0)
                if (k == kDwPairClasses / 2)
                    return dwp_conv_class<T, kGroups, kRow, kCol, kFlip, true>(out, in, wei, bias, pp, k, e0, e1, c, m);
            dwp_conv_class<T, kGroups, kRow, kCol, kFlip, false>(out, in, wei, bias, pp, k, e0, e1, c, m);
        },
        [](int32_t, int32_t, int64_t, auto, auto) {});
}

// The kernel list's entry points (simd/kernels.inc).
template <class T>
void dwconv_pairs_fwd_simd(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp) {
    dwp_conv<T, false>(dst, src, wei, bias, pp);
}
template <class T>
void dwconv_pairs_bwd_data_simd(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp) {
    dwp_conv<T, true>(d_src, d_dst, wei, nullptr, pp);
}
template <class T>
void dwconv_pairs_bwd_wei_simd(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dwp_bwd_wei<T>(d_wei, d_bias, d_dst, src, pp);
}

}  // namespace
}  // namespace cnx
