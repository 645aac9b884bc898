// Depthwise 7x7 over output regions (DwAlgo::kRegions, simd/dwconv/dwconv_algo.h): dense maps and
// masked maps with tiles of 4 tokens a side or more.
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
// neighbour is not thus skips the masked side, where one rectangle per tile would multiply zeros.
// For backward-data the "input" read through the window is d_dst.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/check.h"
#include "core/prefetch.h"
#include "simd/bf16/bf16.h"
#include "simd/dwconv/dwconv_algo.h"

namespace cnx {

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
// rather than resolve the -1 defaults per kernel row.
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
template <class E>
inline void dw_prefetch_out_row(const E* out, const DwGeom& g, int64_t h) {
    if (h >= g.h0 && h < g.h1) prefetch_bytes(out + (h * g.W + g.w0) * g.C, (g.w1 - g.w0) * g.C * (int64_t)sizeof(E));
}
inline void dw_prefetch_in_row(const float* in, const DwGeom& g, int64_t ih) {
    if (ih < g.ih0 || ih >= g.ih1) return;
    const DwSpan s = dw_band_cols(g, dw_band_of(g, ih));
    prefetch_bytes(in + (ih * g.W + s.lo) * g.C, (s.hi - s.lo) * g.C * (int64_t)sizeof(float));
}

// True when the image is over kDwPrefetchImageBytes.
inline bool dw_large_image(const DwGeom& g) { return g.H * g.W * g.C * (int64_t)sizeof(float) > kDwPrefetchImageBytes; }

// What every region kernel asks of its caller (checked in debug and sanitizer builds): the region,
// the window and the band columns lie within the image; a call on some rows keeps its region's bands.
inline void dw_dcheck(const DwGeom& g) {
    auto span_in = [](int64_t lo, int64_t hi, int64_t n) { return 0 <= lo && lo <= hi && hi <= n; };
    CNX_DCHECK(g.C >= 1, "dwconv: no channels");
    CNX_DCHECK(span_in(g.h0, g.h1, g.H) && span_in(g.w0, g.w1, g.W), "dwconv: region outside the image");
    CNX_DCHECK(span_in(g.ih0, g.ih1, g.H) && span_in(g.iw0, g.iw1, g.W), "dwconv: window outside the image");
    CNX_DCHECK(g.tw0 < 0 || span_in(g.tw0, g.tw1, g.W), "dwconv: top band outside the image");
    CNX_DCHECK(g.bw0 < 0 || span_in(g.bw0, g.bw1, g.W), "dwconv: bottom band outside the image");
    CNX_DCHECK(dw_top_end(g) <= g.h0 && dw_bottom_begin(g) >= g.h1, "dwconv: bands overlap the region");
}

// The whole image as region and window.
inline DwGeom dw_whole(int64_t H, int64_t W, int64_t C) { return DwGeom{H, W, C, 0, H, 0, W, 0, H, 0, W}; }

// dst[h,w,:] = bias + sum_{i,j} wei[i][j][:] * src[h+i-3, w+j-3, :] for (h,w) in the region.
using dwconv_fwd_t = void(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g);
// dwconv_fwd with dst in bf16 (bf16 precision: the LayerNorm's input), each output rounded to
// nearest even from the fp32 sum dwconv_fwd writes.
using dwconv_fwd_bf16_t = void(bf16* dst, const float* src, const float* wei, const float* bias, const DwGeom& g);
// d_src[h,w,:] += sum_{i,j} wei[i][j][:] * d_dst[h-i+3, w-j+3, :] for (h,w) in the region
// (the gradient of the forward at input sites of the region, reading d_dst around it).
using dwconv_bwd_data_t = void(float* d_src, const float* d_dst, const float* wei, const DwGeom& g);
// d_wei[i][j][:] += sum_{(h,w) in region} d_dst[h,w,:] * src[h+i-3, w+j-3, :]; d_bias += sum d_dst.
using dwconv_bwd_wei_t = void(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g);

}  // namespace cnx
