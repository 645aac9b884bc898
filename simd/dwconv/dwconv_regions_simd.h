// Depthwise 7x7 kernels over output regions (DwAlgo::kRegions), built from the register blocks of
// simd/dwconv/dwconv_blocks_simd.h; instantiated by simd/kernels_<isa>.cpp.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simd/dwconv/dwconv_blocks_simd.h"
#include "simd/dwconv/dwconv_regions.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Kernel rows a whose input row h + a - 3 lies inside the window.
inline int dw_a_lo(const DwGeom& g, int64_t h) { return h - kDwPad < g.ih0 ? (int)(g.ih0 - h + kDwPad) : 0; }
inline int dw_a_hi(const DwGeom& g, int64_t h) { return h + kDwPad >= g.ih1 ? (int)(g.ih1 - h + kDwPad) : kDwK; }

// out[h][w] (=bias, or +=) sum_{a,b} K(a,b) * in[h+a-3][w+b-3] for w in [w, w+R) of one row h.
// K(a,b) = wei[a][b], or wei[6-a][6-b] when kFlip (the backward-data correlation).
// Interior blocks (every input column of their reach inside the window) skip the column checks;
// the others test bit qi of their input row's band mask for input column w - 3 + qi. kGroups channel
// groups from c, kRows output rows from h: two rows share each kernel row's weights and run twice
// the FMA chains.
template <class T, int kGroups, int R, int kRows, bool kFlip, bool kAccumulate, bool kInterior, class Out, class M>
inline void dw_row_block(Out* out, const float* in, const float* wei, const float* bias, const DwGeom& g, int64_t c,
                         M m, int64_t h, int64_t w, DwBlockCols cols) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    const int64_t W = g.W, C = g.C;
    V acc[kRows][kGroups][R];
    // Accumulating (backward-data), the old values are added at the end: loaded first, the FMA
    // chains would wait on those loads (a stream from memory) at the start of every block.
#pragma GCC unroll 4
    for (int i = 0; i < kGroups; i++) {
        const V init = kAccumulate ? T::zero() : T::load(bias + c + i * VW, m);
#pragma GCC unroll 2
        for (int j = 0; j < kRows; j++)
#pragma GCC unroll 32
            for (int r = 0; r < R; r++) acc[j][i][r] = init;
    }
    // kernel rows a that some row of the block reads inside the window
    const int a_lo = dw_a_lo(g, h + kRows - 1), a_hi = dw_a_hi(g, h);
    const DwBandRows bands(g);
    for (int a = a_lo; a < a_hi; a++) {
        V k[kGroups][kDwK];
#pragma GCC unroll 4
        for (int i = 0; i < kGroups; i++)
#pragma GCC unroll 32
            for (int b = 0; b < kDwK; b++) {
                const int tap = kFlip ? (kDwK - 1 - a) * kDwK + (kDwK - 1 - b) : a * kDwK + b;
                k[i][b] = T::load(wei + tap * C + c + i * VW, m);
            }
#pragma GCC unroll 2
        for (int j = 0; j < kRows; j++) {
            const int64_t ih = h + j + a - kDwPad;
            if (kRows > 1 && (ih < g.ih0 || ih >= g.ih1)) continue;
            const float* xp = in + (ih * W + (w - kDwPad)) * C + c;  // input column w - 3
            dw_walk_columns<T, kGroups, R, kInterior>(xp, C, cols.band[bands.of(ih)], m, [&](int i, int r, int b, V x) {
                acc[j][i][r] = T::fmadd(k[i][b], x, acc[j][i][r]);
            });
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < kRows; j++)
#pragma GCC unroll 32
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int i = 0; i < kGroups; i++) {
                Out* o = out + (((h + j) * W) + w + r) * C + c + i * VW;
                if constexpr (kAccumulate) T::store(o, m, T::add(T::load(o, m), acc[j][i][r]));
                else store_as<T>(o, m, acc[j][i][r]);
            }
}

// Rows outer, channel groups inner: the 7 input rows one output row reads (all channels) stay in L2
// and the next row reuses 6 of them, so the image streams from memory once, not once per group.
// Full groups use plain loads; only the last, partial one a tail mask.
// Rows go in twos: a block whose two rows' accumulators fill at most half the registers takes
// both rows at once, sharing each kernel row's weights with twice the FMA chains (AVX-512: 8-wide
// stage-1 tiles, 4-wide stage-2 tiles, row ends, 16 accumulators + 7 kGroups weights; AVX2: every 4-wide
// block, 8 accumulators + 7 weights + 1 input fill its 16 registers); AVX-512's 12-wide blocks run
// the two rows one after the other.
// Software prefetch of the rows the region will need, within the region: one row ahead of
// backward-data's output (it adds into it: the old values are demand loads at the end of every
// block), two ahead of the forward's input and output on images over kDwPrefetchImageBytes.
// (Masked tiles of such images get theirs from the layer, across tiles.)
template <class T, bool kFlip, bool kAccumulate, class Out>
void dw_conv_region(Out* out, const float* in, const float* wei, const float* bias, const DwGeom& g) {
    dw_dcheck(g);
    const bool prefetch = dw_large_image(g);
    for (int64_t h = g.h0; h < g.h1;) {
        const int rows = h + 1 < g.h1 ? 2 : 1;
        for (int j = 0; j < rows; j++) {
            if (kAccumulate) {
                dw_prefetch_out_row(out, g, h + j + 1);
            } else if (prefetch && h + j + 2 < g.h1) {  // output row h + j + 2 and the input row it reads first
                dw_prefetch_out_row(out, g, h + j + 2);
                dw_prefetch_in_row(in, g, h + j + 2 + kDwPad);
            }
        }
        dw_for_each_chunk<T, true>(g, [&](int64_t c, auto kGroups, auto m, auto kMaxR) {
            for_each_col_block<T, kMaxR, true>(g, g.w0, g.w1, [&](int64_t w, auto R, auto interior, DwBlockCols cols) {
                if constexpr (2 * kGroups * R <= dw_registers<T>() / 2) {
                    if (rows == 2) return dw_row_block<T, kGroups, R, 2, kFlip, kAccumulate, interior>(out, in, wei, bias, g, c, m, h, w, cols);
                }
                for (int j = 0; j < rows; j++)
                    dw_row_block<T, kGroups, R, 1, kFlip, kAccumulate, interior>(out, in, wei, bias, g, c, m, h + j, w, cols);
            });
        });
        h += rows;
    }
}

// acc[i][b] += sum_{r} g[w+r] * src_row[w+r+b-3] for one row block and kGroups channel groups from c
// (kernel row fixed by the caller).
template <class T, int kGroups, int R, bool kInterior, class M>
inline void dw_wei_block(typename T::V (*acc)[kDwK], const float* g_row, const float* src_row, const DwGeom& geo,
                         M m, int64_t w, uint32_t cols) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = geo.C;
    V g[kGroups][R];
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int i = 0; i < kGroups; i++) g[i][r] = T::load(g_row + (w + r) * C + i * W, m);
    const float* xp = src_row + (w - kDwPad) * C;  // input column w - 3
    dw_walk_columns<T, kGroups, R, kInterior>(xp, C, cols, m, [&](int i, int r, int b, V x) {
        acc[i][b] = T::fmadd(g[i][r], x, acc[i][b]);
    });
}

// kGroups channel groups over a region, kernel rows outer: the accumulators of a kernel row stay in
// registers across the region's rows, at the price of reading the window 7 times per group. Column
// blocks outside the rows (a strip of the region at a time: faster on the small maps and masked
// tiles). Blocks of at most kMaxR columns (kGroups x (kMaxR + 7) + kGroups vectors must fit the registers).
template <class T, int kGroups, int kMaxR, class M>
inline void dw_wei_groups(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& geo,
                          int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    const int64_t W = geo.W, C = geo.C;
    const DwBandRows bands(geo);
    for (int a = 0; a < kDwK; a++) {
        V acc[kGroups][kDwK];
#pragma GCC unroll 4
        for (int i = 0; i < kGroups; i++)
#pragma GCC unroll 8
            for (int b = 0; b < kDwK; b++) acc[i][b] = T::load(d_wei + (a * kDwK + b) * C + c + i * VW, m);
        // output rows whose input row h + a - 3 lies inside the window
        const int64_t h_lo = std::max(geo.h0, geo.ih0 - a + kDwPad), h_hi = std::min(geo.h1, geo.ih1 - a + kDwPad);
        for_each_col_block<T, kMaxR>(geo, geo.w0, geo.w1, [&](int64_t w, auto R, auto interior, DwBlockCols cols) {
            for (int64_t h = h_lo; h < h_hi; h++)
                dw_wei_block<T, kGroups, R, interior>(acc, d_dst + h * W * C + c, src + (h + a - kDwPad) * W * C + c, geo, m, w,
                                                cols.band[bands.of(h + a - kDwPad)]);
        });
#pragma GCC unroll 4
        for (int i = 0; i < kGroups; i++)
#pragma GCC unroll 8
            for (int b = 0; b < kDwK; b++) T::store(d_wei + (a * kDwK + b) * C + c + i * VW, m, acc[i][b]);
    }
    for (int i = 0; i < kGroups; i++) {
        const int64_t ci = c + i * VW;
        V bacc = T::load(d_bias + ci, m);
        for (int64_t h = geo.h0; h < geo.h1; h++)
            for (int64_t w = geo.w0; w < geo.w1; w++) bacc = T::add(bacc, T::load(d_dst + (h * W + w) * C + ci, m));
        T::store(d_bias + ci, m, bacc);
    }
}

// Windows up to this size (stages 2-4 at 224, masked tiles) take the region whole, channel groups
// outer; larger ones (stage 1) row by row, each row's groups in turn, as in dw_conv_region (the rows
// one output row reads stay in L2).
constexpr int64_t kDwWeiGroupOuterBytes = 384 * 1024;

template <class T>
void dw_bwd_wei_region(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& geo) {
    dw_dcheck(geo);
    auto groups = [&](const DwGeom& r) {
        dw_for_each_chunk<T, false>(r, [&](int64_t c, auto kGroups, auto m, auto kMaxR) {
            dw_wei_groups<T, kGroups, kMaxR>(d_wei, d_bias, d_dst, src, r, c, m);
        });
    };
    // (A one-row region would see the other rows of a banded window as bands of its own: banded
    // windows, those of small masked tiles, are taken whole.)
    if (dw_banded(geo) || (geo.ih1 - geo.ih0) * (geo.iw1 - geo.iw0) * geo.C * (int64_t)sizeof(float) <= kDwWeiGroupOuterBytes)
        return groups(geo);
    for (int64_t h = geo.h0; h < geo.h1; h++) {
        DwGeom row = geo;
        row.h0 = h;
        row.h1 = h + 1;
        groups(row);
    }
}

// The kernel list's entry points (simd/kernels.inc).
template <class T>
void dwconv_fwd_simd(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_conv_region<T, false, false>(dst, src, wei, bias, g);
}
template <class T>
void dwconv_fwd_bf16_simd(bf16* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_conv_region<T, false, false>(dst, src, wei, bias, g);
}
template <class T>
void dwconv_bwd_data_simd(float* d_src, const float* d_dst, const float* wei, const DwGeom& g) {
    dw_conv_region<T, true, true>(d_src, d_dst, wei, nullptr, g);
}
template <class T>
void dwconv_bwd_wei_simd(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g) {
    dw_bwd_wei_region<T>(d_wei, d_bias, d_dst, src, g);
}

}  // namespace
}  // namespace cnx
