// Depthwise 7x7 convolution, stride 1, zero padding 3, with bias (cross-correlation, no flip).
//
// Layouts: one image at a time, NHWC: src/dst [H][W][C]; weights [7][7][C] (tap-major, channels
// fastest, so every tap is a contiguous vector of C); bias [C].
// A call covers the output region rows [h0, h1) x cols [w0, w1) of one image: the whole image, a
// band of rows for one thread, or one visible tile of a masked image. It reads the input only inside
// the window rows [ih0, ih1) x cols [iw0, iw1) (a rectangle within the image, around the region) and
// treats everything outside as zero: the image border is zero padding, and a masked encoder passes the
// span of the visible tiles within reach, so a tile reads no halo from masked neighbours.
// Masked sites inside a window hold zeros (the masked encoder keeps them so), which makes a call on a
// visible tile exactly the submanifold sparse convolution.
// The input rows above the region (the top band, [ih0, h0)) and below it (the bottom band,
// [h1, ih1)) may have column windows of their own, [tw0, tw1) and [bw0, bw1); -1 leaves a band on
// the region rows' [iw0, iw1). A masked tile whose diagonal neighbour is visible but whose side
// neighbour is not thus skips the masked side (at mask ratio 0.6, with one rectangle per tile, 12%
// of the stage-1 and 24% of the stage-2 multiply-adds fell on zeros; with bands, 1% and 3%).
// For backward-data the "input" read through the window is d_dst.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/prefetch.h"

namespace cnx {

constexpr int kDwK = 7;     // kernel size
constexpr int kDwPad = 3;   // padding on each side
constexpr int kDwTaps = 49;

struct DwGeom {
    int64_t H, W, C;             // one image [H][W][C]
    int64_t h0, h1, w0, w1;      // the output region
    int64_t ih0, ih1, iw0, iw1;  // the input window (within the image); outside it the input is zero
    int64_t tw0 = -1, tw1 = -1;  // columns of the top band, or -1: [iw0, iw1)
    int64_t bw0 = -1, bw1 = -1;  // columns of the bottom band, or -1: [iw0, iw1)
    // Where the top band ends and the bottom band begins, or -1: h0, h1. A call on some rows of a
    // region keeps the region's bands.
    int64_t band_h0 = -1, band_h1 = -1;
};

// The window's columns [lo, hi) in each band of input rows.
enum DwBand { kDwTop = 0, kDwMid = 1, kDwBottom = 2 };
struct DwSpan {
    int64_t lo, hi;
};
inline int64_t dw_top_end(const DwGeom& g) { return g.band_h0 >= 0 ? g.band_h0 : g.h0; }
inline int64_t dw_bottom_begin(const DwGeom& g) { return g.band_h1 >= 0 ? g.band_h1 : g.h1; }
// The band of each input row, its boundaries read once: kernels hoist one out of their hot loops
// (resolving the -1 defaults per kernel row made masked stage-2 tiles 1.2x slower).
struct DwBandRows {
    int64_t top_end, bottom_begin;
    explicit DwBandRows(const DwGeom& g) : top_end(dw_top_end(g)), bottom_begin(dw_bottom_begin(g)) {}
    int of(int64_t ih) const { return (ih >= top_end) + (ih >= bottom_begin); }
};
inline DwBand dw_band_of(const DwGeom& g, int64_t ih) { return (DwBand)DwBandRows(g).of(ih); }
inline DwSpan dw_band_cols(const DwGeom& g, DwBand band) {
    if (band == kDwTop && g.tw0 >= 0) return DwSpan{g.tw0, g.tw1};
    if (band == kDwBottom && g.bw0 >= 0) return DwSpan{g.bw0, g.bw1};
    return DwSpan{g.iw0, g.iw1};
}
// The window's input rows [lo, hi) in a band (empty when the window has no rows there).
inline DwSpan dw_band_rows(const DwGeom& g, DwBand band) {
    if (band == kDwTop) return DwSpan{g.ih0, std::min(g.ih1, dw_top_end(g))};
    if (band == kDwMid) return DwSpan{std::max(g.ih0, dw_top_end(g)), std::min(g.ih1, dw_bottom_begin(g))};
    return DwSpan{std::max(g.ih0, dw_bottom_begin(g)), g.ih1};
}
// True when the top or bottom band has columns of its own.
inline bool dw_banded(const DwGeom& g) { return g.tw0 >= 0 || g.bw0 >= 0; }
// True when input row ih, column iw lies inside the window.
inline bool dw_in_window(const DwGeom& g, int64_t ih, int64_t iw) {
    if (ih < g.ih0 || ih >= g.ih1) return false;
    const DwSpan s = dw_band_cols(g, dw_band_of(g, ih));
    return iw >= s.lo && iw < s.hi;
}

// Prefetches output row h of the region, and input row ih within the window (the columns of its
// band); rows outside them are skipped.
inline void dw_prefetch_out_row(const float* out, const DwGeom& g, int64_t h) {
    if (h >= g.h0 && h < g.h1) prefetch_bytes(out + (h * g.W + g.w0) * g.C, (g.w1 - g.w0) * g.C * (int64_t)sizeof(float));
}
inline void dw_prefetch_in_row(const float* in, const DwGeom& g, int64_t ih) {
    if (ih < g.ih0 || ih >= g.ih1) return;
    const DwSpan s = dw_band_cols(g, dw_band_of(g, ih));
    prefetch_bytes(in + (ih * g.W + s.lo) * g.C, (s.hi - s.lo) * g.C * (int64_t)sizeof(float));
}
// Images larger than this (stage 1 at 224: 500-600 KB) get software prefetch in the forward and
// backward-data (simd/dwconv/dwconv_simd.h, nn/dwconv.cpp); the stage-2 maps (250-300 KB) ran 7%
// slower dense with it and no faster masked.
constexpr int64_t kDwPrefetchImageBytes = 384 * 1024;

// The whole image as region and window.
inline DwGeom dw_whole(int64_t H, int64_t W, int64_t C) { return DwGeom{H, W, C, 0, H, 0, W, 0, H, 0, W}; }

// dst[h,w,:] = bias + sum_{i,j} wei[i][j][:] * src[h+i-3, w+j-3, :] for (h,w) in the region.
using dwconv_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g);
// d_src[h,w,:] += sum_{i,j} wei[i][j][:] * d_dst[h-i+3, w-j+3, :] for (h,w) in the region
// (the gradient of the forward at input sites of the region, reading d_dst around it).
using dwconv_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwGeom& g);
// d_wei[i][j][:] += sum_{(h,w) in region} d_dst[h,w,:] * src[h+i-3, w+j-3, :]; d_bias += sum d_dst.
using dwconv_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g);

// Submanifold form for maps with tiny mask tiles (1x1 or 2x2 tokens), where visible regions are too
// small for register blocks along W: per visible output site a list of its visible input sites within
// reach and their taps. Sites and neighbours are token indices into dense [tokens][C] maps; a call
// covers sites [s0, s1).
struct DwSparse {
    const int32_t* site;   // site s -> token index
    const int32_t* begin;  // site s's entries are [begin[s], begin[s + 1])
    const int32_t* tap;    // entry -> tap i * 7 + j: the neighbour is token (h + i - 3, w + j - 3)
    const int32_t* nbr;    // entry -> the neighbour's token index
    int64_t C;
    int64_t s0, s1;
};
// dst[site] = bias + sum_e wei[tap[e]] * src[nbr[e]].
using dwconv_sparse_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp);
// d_src[site] += sum_e wei[48 - tap[e]] * d_dst[nbr[e]] (the neighbour relation is symmetric, so the
// sites that read `site` through tap t are its neighbours through the flipped tap 48 - t).
using dwconv_sparse_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp);
// d_wei[tap[e]] += d_dst[site] * src[nbr[e]]; d_bias += d_dst[site].
using dwconv_sparse_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src,
                                     const DwSparse& sp);

// The depthwise over pairs of visible tiles, for masks whose tiles are 2x2 tokens (stage 3 at stem
// stride 4). Tile Q = P + (dy, dx) tiles (|dy|, |dx| <= 2) lies within reach of tile P; their 16
// (output site of P, input site of Q) products use the taps (3 + 2dy + u, 3 + 2dx + v), u, v in
// {-1, 0, 1} (those inside the kernel). Pairs come in 25 classes k = (dy + 2) * 5 + (dx + 2), so a
// kernel keeps one class's 9 tap weights (convolutions) or tap gradients (weight gradient) in
// registers while its pairs stream past: each pair's 4 + 4 site vectors serve up to 16 products,
// where the lists load a weight and an input, or update a gradient row, per product. Class 12
// (Q = P) holds every visible tile once. Sites and tiles are token indices into dense [tokens][C]
// maps.
constexpr int kDwPairTile = 2;
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
// dst[site of P] = bias + sum over P's pairs of wei[tap] * src[site of Q], for the tiles P of the call.
using dwconv_pairs_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp);
// d_src[site of P] += sum over P's pairs of wei[48 - tap] * d_dst[site of Q] (pairs are symmetric).
using dwconv_pairs_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp);
// d_wei[tap] += d_dst[site of P] * src[site of Q] over the pairs; d_bias += d_dst over the tiles P.
using dwconv_pairs_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src,
                                    const DwPairs& pp);

}  // namespace cnx
