// Depthwise 7x7 over pairs of visible tiles (DwAlgo::kPairs, simd/dwconv/dwconv_algo.h).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/check.h"
#include "simd/dwconv/dwconv_algo.h"

namespace cnx {

// The depthwise over pairs of visible tiles, for masks whose tiles are 2x2 tokens (stage 3 at stem
// stride 4). Tile Q = P + (dy, dx) tiles (|dy|, |dx| <= 2) lies within reach of tile P; their 16
// (output site of P, input site of Q) products use the taps (3 + 2dy + u, 3 + 2dx + v), u, v in
// {-1, 0, 1} (those inside the kernel). Pairs come in 25 classes k = (dy + 2) * 5 + (dx + 2), so a
// kernel keeps one class's 9 tap weights (convolutions) or tap gradients (weight gradient) in
// registers while its pairs stream past: each pair's 4 + 4 site vectors serve up to 16 products,
// where the lists load a weight and an input, or update a gradient row, per product. Class 12
// (Q = P) holds every visible tile once. Sites and tiles are token indices into dense [tokens][C]
// maps.
constexpr int kDwPairClasses = 25;
struct DwPairs {
    const int32_t* begin;  // class k's pairs: [begin[k], begin[k + 1])
    const int32_t* tile;   // pair -> P's index among the visible tiles (ascending within a class)
    const int32_t* out;    // pair -> token index of P's top-left site
    const int32_t* in;     // pair -> token index of Q's top-left site
    int64_t W, C;          // the map's width in tokens; channels
    int64_t t0, t1;        // a call covers the pairs whose P lies in [t0, t1)
};
// Class k's pairs [*e0, *e1) whose P lies in the call's [t0, t1).
inline void dw_pairs_range(const DwPairs& pp, int k, int32_t* e0, int32_t* e1) {
    const int32_t* first = pp.tile + pp.begin[k];
    const int32_t* last = pp.tile + pp.begin[k + 1];
    *e0 = (int32_t)(std::lower_bound(first, last, (int32_t)pp.t0) - pp.tile);
    *e1 = (int32_t)(std::lower_bound(first, last, (int32_t)pp.t1) - pp.tile);
}
// What every pair kernel asks of its caller (checked in debug and sanitizer builds).
inline void dw_dcheck(const DwPairs& pp) {
    CNX_DCHECK(pp.C >= 1 && pp.W >= kDwPairTile, "dwconv pairs: bad map shape");
    CNX_DCHECK(0 <= pp.t0 && pp.t0 <= pp.t1, "dwconv pairs: bad tile range");
    CNX_DCHECK(pp.begin && (pp.t0 == pp.t1 || (pp.tile && pp.out && pp.in)), "dwconv pairs: no pairs");
}

// dst[site of P] = bias + sum over P's pairs of wei[tap] * src[site of Q], for the tiles P of the call.
using dwconv_pairs_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp);
// d_src[site of P] += sum over P's pairs of wei[48 - tap] * d_dst[site of Q] (pairs are symmetric).
using dwconv_pairs_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp);
// d_wei[tap] += d_dst[site of P] * src[site of Q] over the pairs; d_bias += d_dst over the tiles P.
using dwconv_pairs_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src,
                                    const DwPairs& pp);

}  // namespace cnx
