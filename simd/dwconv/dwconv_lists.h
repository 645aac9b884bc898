// Depthwise 7x7 over neighbour lists (DwAlgo::kLists, simd/dwconv/dwconv_algo.h).
#pragma once

#include <cstdint>

#include "core/check.h"
#include "simd/bf16/bf16.h"
#include "simd/dwconv/dwconv_algo.h"

namespace cnx {

// Submanifold form for maps with tiny mask tiles (any size; dw_algo runs it at 1x1 tokens), where
// visible regions are too small for register blocks along W: per visible output site a list of its
// visible input sites within reach and their taps. Sites and neighbours are token indices into dense [tokens][C] maps; a call
// covers sites [s0, s1).
struct DwSparse {
    const int32_t* site;   // site s -> token index
    const int32_t* begin;  // site s's entries are [begin[s], begin[s + 1])
    const int32_t* tap;    // entry -> tap i * 7 + j: the neighbour is token (h + i - 3, w + j - 3)
    const int32_t* nbr;    // entry -> the neighbour's token index
    int64_t C;
    int64_t s0, s1;
};
// What every list kernel asks of its caller (checked in debug and sanitizer builds).
inline void dw_dcheck(const DwSparse& sp) {
    CNX_DCHECK(sp.C >= 1, "dwconv lists: no channels");
    CNX_DCHECK(0 <= sp.s0 && sp.s0 <= sp.s1, "dwconv lists: bad site range");
    CNX_DCHECK(sp.s0 == sp.s1 || (sp.site && sp.begin && sp.tap && sp.nbr), "dwconv lists: no lists");
}

// dst[site] = bias + sum_e wei[tap[e]] * src[nbr[e]].
using dwconv_sparse_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp);
// The same with dst in bf16, rounded from the fp32 sum.
using dwconv_sparse_fwd_bf16_t = void(bf16* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp);
// d_src[site] += sum_e wei[48 - tap[e]] * d_dst[nbr[e]] (the neighbour relation is symmetric, so the
// sites that read `site` through tap t are its neighbours through the flipped tap 48 - t).
using dwconv_sparse_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp);
// d_wei[tap[e]] += d_dst[site] * src[nbr[e]]; d_bias += d_dst[site].
using dwconv_sparse_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src,
                                     const DwSparse& sp);

}  // namespace cnx
