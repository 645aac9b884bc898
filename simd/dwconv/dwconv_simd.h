// Depthwise 7x7 kernels over the vector traits of simd/vec.h (instantiated by simd/kernels_<isa>.cpp).
// Vectorised along C (one channel group of kWidth lanes at a time, masked tail);
// register-blocked along W: a block of R output pixels keeps R accumulators and the 7 taps of one
// kernel row in registers, and each input vector it loads feeds up to 7 of them.
#pragma once

#include <algorithm>
#include <cstdint>

#include "simd/dwconv/dwconv.h"
#include "simd/vec.h"

namespace cnx {

namespace {

// Register block along W per ISA: AVX-512 keeps 12 accumulators + 7 taps + 1 input in its 32
// registers (8 was 10-20% slower: too few independent FMA chains); AVX2 has 16 registers, 4 fit.
// The unrolled loops must unroll fully (R + 6 <= 32) so that the accumulators stay in registers;
// a partial unroll of the column loop (R = 12 with `unroll 16`) was also miscompiled by GCC 12 here
// (caught by the kernel tests).
template <class T>
constexpr int dw_block() {
    return T::kWidth == 16 ? 12 : 4;
}
template <class T>
constexpr int dw_registers() {
    return T::kWidth == 16 ? 32 : 16;
}
static_assert(12 + kDwK - 1 <= 32, "the column loops must unroll fully");

// The unrolled column loops step one pointer by C. Left visible, GCC precomputed all R + 6 column
// offsets as loop invariants, ran out of general registers and spilled them (to the stack and to
// vector registers): more scalar instructions than FMAs in the small masked tiles.
inline void dw_opaque(const float*& p) { asm("" : "+r"(p)); }

// The column walk of one row block: for each input column w - 3 + qi in reach (every one when
// kInterior, else those with bit qi of `cols`), for each of the G channel groups, its vector x, and
// f(i, r, b, x) for every output column w + r that reads it through kernel column b = qi - r.
template <class T, int G, int R, bool kInterior, class M, class F>
__attribute__((always_inline)) inline void dw_walk_columns(const float* xp, int64_t C, uint32_t cols, M m, F&& f) {
#pragma GCC unroll 32
    for (int qi = 0; qi < R + kDwK - 1; qi++, xp += C) {
        dw_opaque(xp);
        if (!kInterior && !((cols >> qi) & 1u)) continue;
#pragma GCC unroll 4
        for (int i = 0; i < G; i++) {
            const typename T::V x = T::load(xp + i * T::kWidth, m);
#pragma GCC unroll 32
            for (int r = 0; r < R; r++) {
                const int b = qi - r;
                if (b >= 0 && b < kDwK) f(i, r, b, x);
            }
        }
    }
}

// out[h][w] (=bias, or +=) sum_{a,b} K(a,b) * in[h+a-3][w+b-3] for w in [w, w+R) of one row h.
// K(a,b) = wei[a][b], or wei[6-a][6-b] when kFlip (the backward-data correlation).
// Kernel rows a whose input row h + a - 3 lies inside the window.
inline int dw_a_lo(const DwGeom& g, int64_t h) { return h - kDwPad < g.ih0 ? (int)(g.ih0 - h + kDwPad) : 0; }
inline int dw_a_hi(const DwGeom& g, int64_t h) { return h + kDwPad >= g.ih1 ? (int)(g.ih1 - h + kDwPad) : kDwK; }

// Bit qi set when input column w - 3 + qi (qi < R + 6) lies inside the window, one mask per band of
// input rows: computed once per block, so the unrolled column loops test one bit (two compares per
// column per kernel row made the small masked tiles instruction-bound).
struct DwBlockCols {
    uint32_t band[3];
};

// Interior blocks (every input column of their reach inside the window) skip the column checks;
// the others test bit qi of their input row's band mask for input column w - 3 + qi. G channel
// groups from c, kRows output rows from h: two rows share each kernel row's weights and run twice
// the FMA chains.
template <class T, int G, int R, int kRows, bool kFlip, bool kAccumulate, bool kInterior, class M>
inline void dw_row_block(float* out, const float* in, const float* wei, const float* bias, const DwGeom& g, int64_t c,
                         M m, int64_t h, int64_t w, DwBlockCols cols) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    const int64_t W = g.W, C = g.C;
    V acc[kRows][G][R];
    // Accumulating (backward-data), the old values are added at the end: loaded first, the FMA
    // chains would wait on those loads (a stream from memory) at the start of every block.
#pragma GCC unroll 4
    for (int i = 0; i < G; i++) {
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
        V k[G][kDwK];
#pragma GCC unroll 4
        for (int i = 0; i < G; i++)
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
            dw_walk_columns<T, G, R, kInterior>(xp, C, cols.band[bands.of(ih)], m, [&](int i, int r, int b, V x) {
                acc[j][i][r] = T::fmadd(k[i][b], x, acc[j][i][r]);
            });
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < kRows; j++)
#pragma GCC unroll 32
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int i = 0; i < G; i++) {
                float* o = out + (((h + j) * W) + w + r) * C + c + i * VW;
                T::store(o, m, kAccumulate ? T::add(T::load(o, m), acc[j][i][r]) : acc[j][i][r]);
            }
}

// True when columns [w - 3, w + R + 3) lie inside the window in every band the region reads.
inline bool dw_interior(const DwGeom& g, int64_t w, int R) {
    auto covers = [&](DwSpan s) { return w - kDwPad >= s.lo && w + R + kDwPad <= s.hi; };
    if (!covers(DwSpan{g.iw0, g.iw1})) return false;
    if (!dw_banded(g)) return true;  // one window for all rows (block dispatch is hot on 7x7 maps)
    auto band_ok = [&](DwBand b) {
        const DwSpan rows = dw_band_rows(g, b);
        return std::max(rows.lo, g.h0 - kDwPad) >= std::min(rows.hi, g.h1 + kDwPad) || covers(dw_band_cols(g, b));
    };
    return band_ok(kDwTop) && band_ok(kDwBottom);
}

inline uint32_t dw_span_cols(DwSpan s, int64_t w, int R) {
    const int64_t lo = std::max<int64_t>(0, s.lo - (w - kDwPad));
    const int64_t hi = std::min<int64_t>(R + kDwK - 1, s.hi - (w - kDwPad));
    return hi <= lo ? 0u : (uint32_t)(((1ull << hi) - 1) & ~((1ull << lo) - 1));
}

inline DwBlockCols dw_cols(const DwGeom& g, int64_t w, int R) {
    const uint32_t mid = dw_span_cols(DwSpan{g.iw0, g.iw1}, w, R);
    if (!dw_banded(g)) return DwBlockCols{{mid, mid, mid}};
    return DwBlockCols{{dw_span_cols(dw_band_cols(g, kDwTop), w, R), mid, dw_span_cols(dw_band_cols(g, kDwBottom), w, R)}};
}

// f(w, R, interior, cols) over the columns [w0, w1) of a row in register blocks: R = dw_block wide,
// then 7, 4, 2, 1 for narrow rows (stage 4 is 7 wide) and row ends; a rest that is a multiple of 4
// (masked tiles 4 wide at stage 2) takes 4s, not 7 + 1. R and interior (every input
// column of the block's reach inside the window) are std::integral_constant / bool for the block
// templates; cols is dw_cols for the others.
// kEights (the convolutions on AVX-512): a row whose 12-wide blocks would leave 4 or 8 columns ends
// in 8-wide blocks instead (16 = 8 + 8, 56 = 4 x 12 + 8): a lone 4-wide block loads 7 weights for
// 28 FMAs per kernel row.
template <class T, int kMaxR = dw_block<T>(), bool kEights = false, class F>
inline void for_each_col_block(const DwGeom& g, int64_t w0, int64_t w1, F&& f) {
    int64_t w = w0;
    auto blocks = [&](auto R, int64_t end) {
        for (; w + R <= end; w += R) {
            if (dw_interior(g, w, R)) f(w, R, std::true_type{}, DwBlockCols{{~0u, ~0u, ~0u}});
            else f(w, R, std::false_type{}, dw_cols(g, w, R));
        }
    };
    constexpr int R = kMaxR;
    if constexpr (kEights && R == 12) {
        const int64_t n = w1 - w0;
        blocks(std::integral_constant<int, 12>{}, n % 12 == 4 && n >= 16 ? w1 - 16 : w1);
        blocks(std::integral_constant<int, 8>{}, w1);
    } else {
        blocks(std::integral_constant<int, R>{}, w1);
    }
    if constexpr (R > 7)
        if ((w1 - w) % 4 != 0) blocks(std::integral_constant<int, 7>{}, w1);
    if constexpr (R > 4) blocks(std::integral_constant<int, 4>{}, w1);
    blocks(std::integral_constant<int, 2>{}, w1);
    blocks(std::integral_constant<int, 1>{}, w1);
}

// f(c, G, mask, kMaxR) over the channels of a region in the chunks its kernels take: one channel
// group at a time in column blocks of up to dw_block, or, for masked tiles 4 or 8 wide on AVX-512
// (narrower than a full block, a whole number of 4-wide blocks), two groups per 4-wide block: twice
// the FMA chains and half the blocks (1.1-1.4x faster on the masked maps of stages 1 and 2). The
// 7-wide stage-4 map keeps its 7-wide blocks. G and kMaxR are std::integral_constant.
// The convolutions (not the weight gradient) take an 8-wide tile (stage 1) in one 8-wide block per
// group: fewer weight loads per FMA, and a channel tail (C = 40) no longer runs in 4-wide blocks
// alone; one core, 56x56 maps: 1.2x faster at C = 40, 1.03-1.07x at C = 48. (The weight gradient's
// 7 accumulator chains each take 8 FMAs per row there; it ran up to 1.8x slower.) Maps 7 or 14
// wide (stages 4 and 3 at 224) run two groups per 7-wide block: 14 FMA chains instead of 7, and no
// 2-wide rest at 14; one core: 1.1x faster at stage 4, 1.05-1.2x at stage 3.
template <class T, bool kConv, class F>
inline void dw_for_each_chunk(const DwGeom& g, F&& f) {
    if constexpr (T::kWidth == 16) {
        const int64_t w = g.w1 - g.w0;
        if (kConv && (w == 7 || w == 14))
            return for_each_chunk<T, 2>(g.C, [&](int64_t c, auto G, auto m) { f(c, G, m, std::integral_constant<int, 7>{}); });
        if (kConv && w == 8)
            return for_each_chunk<T, 1>(g.C, [&](int64_t c, auto G, auto m) { f(c, G, m, std::integral_constant<int, 8>{}); });
        if (w < dw_block<T>() && w % 4 == 0)
            return for_each_chunk<T, 2>(g.C, [&](int64_t c, auto G, auto m) { f(c, G, m, std::integral_constant<int, 4>{}); });
    }
    for_each_chunk<T, 1>(g.C, [&](int64_t c, auto G, auto m) { f(c, G, m, std::integral_constant<int, dw_block<T>()>{}); });
}

// Rows outer, channel groups inner: the 7 input rows one output row reads (all channels) stay in L2
// and the next row reuses 6 of them, so the image streams from memory once, not once per group.
// Full groups use plain loads; only the last, partial one a tail mask.
// Rows go in twos: a block whose two rows' accumulators fill at most half the registers takes
// both rows at once, sharing each kernel row's weights with twice the FMA chains (AVX-512: 8-wide
// stage-1 tiles, 4-wide stage-2 tiles, row ends, 16 accumulators + 7 G weights; AVX2: every 4-wide
// block, 8 accumulators + 7 weights + 1 input fill its 16 registers); AVX-512's 12-wide blocks run
// the two rows one after the other. 2 threads, warm caches: AVX-512 dense forward 1.08-1.15x,
// dense backward-data 1.2-1.3x, masked 1.0-1.1x faster; AVX2 1.3-1.45x (4 FMA chains had left it
// waiting on FMA latency).
// Software prefetch of the rows the region will need, within the region: one row ahead
// (backward-data's output) or two (the forward's input and output). Backward-data adds into its
// output: the old values are demand loads at the end of every block, and on the large stage-1 maps
// they waited on memory (backward-data took 1.8-2.4x the forward). The forward on images over
// kDwPrefetchImageBytes: dense 1.04-1.1x faster at stage 1 (2 threads, cold caches); backward-data
// gained nothing from prefetching its input. (Masked tiles get theirs from the layer, across tiles.)
template <class T, bool kFlip, bool kAccumulate>
void dw_conv_region(float* out, const float* in, const float* wei, const float* bias, const DwGeom& g) {
    const bool prefetch = g.H * g.W * g.C * (int64_t)sizeof(float) > kDwPrefetchImageBytes;
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
        dw_for_each_chunk<T, true>(g, [&](int64_t c, auto G, auto m, auto kMaxR) {
            for_each_col_block<T, kMaxR, true>(g, g.w0, g.w1, [&](int64_t w, auto R, auto interior, DwBlockCols cols) {
                if constexpr (2 * G * R <= dw_registers<T>() / 2) {
                    if (rows == 2) return dw_row_block<T, G, R, 2, kFlip, kAccumulate, interior>(out, in, wei, bias, g, c, m, h, w, cols);
                }
                for (int j = 0; j < rows; j++)
                    dw_row_block<T, G, R, 1, kFlip, kAccumulate, interior>(out, in, wei, bias, g, c, m, h + j, w, cols);
            });
        });
        h += rows;
    }
}

// acc[i][b] += sum_{r} g[w+r] * src_row[w+r+b-3] for one row block and G channel groups from c
// (kernel row fixed by the caller).
template <class T, int G, int R, bool kInterior, class M>
inline void dw_wei_block(typename T::V (*acc)[kDwK], const float* g_row, const float* src_row, const DwGeom& geo,
                         M m, int64_t w, uint32_t cols) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = geo.C;
    V g[G][R];
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int i = 0; i < G; i++) g[i][r] = T::load(g_row + (w + r) * C + i * W, m);
    const float* xp = src_row + (w - kDwPad) * C;  // input column w - 3
    dw_walk_columns<T, G, R, kInterior>(xp, C, cols, m, [&](int i, int r, int b, V x) {
        acc[i][b] = T::fmadd(g[i][r], x, acc[i][b]);
    });
}

// G channel groups over a region, kernel rows outer: the accumulators of a kernel row stay in
// registers across the region's rows, at the price of reading the window 7 times per group. Column
// blocks outside the rows (a strip of the region at a time): 1.15-1.4x faster than rows outside on
// the 28x28 and 7x7 maps and on masked 4x4 tiles; on the 56x56 maps (one row per region) an A/B
// run read it 4-9% slower. Blocks of at most kMaxR columns (G x (kMaxR + 7) + G vectors must fit
// the registers).
template <class T, int G, int kMaxR, class M>
inline void dw_wei_groups(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& geo,
                          int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    const int64_t W = geo.W, C = geo.C;
    const DwBandRows bands(geo);
    for (int a = 0; a < kDwK; a++) {
        V acc[G][kDwK];
#pragma GCC unroll 4
        for (int i = 0; i < G; i++)
#pragma GCC unroll 8
            for (int b = 0; b < kDwK; b++) acc[i][b] = T::load(d_wei + (a * kDwK + b) * C + c + i * VW, m);
        // output rows whose input row h + a - 3 lies inside the window
        const int64_t h_lo = std::max(geo.h0, geo.ih0 - a + kDwPad), h_hi = std::min(geo.h1, geo.ih1 - a + kDwPad);
        for_each_col_block<T, kMaxR>(geo, geo.w0, geo.w1, [&](int64_t w, auto R, auto interior, DwBlockCols cols) {
            for (int64_t h = h_lo; h < h_hi; h++)
                dw_wei_block<T, G, R, interior>(acc, d_dst + h * W * C + c, src + (h + a - kDwPad) * W * C + c, geo, m, w,
                                                cols.band[bands.of(h + a - kDwPad)]);
        });
#pragma GCC unroll 4
        for (int i = 0; i < G; i++)
#pragma GCC unroll 8
            for (int b = 0; b < kDwK; b++) T::store(d_wei + (a * kDwK + b) * C + c + i * VW, m, acc[i][b]);
    }
    for (int i = 0; i < G; i++) {
        const int64_t ci = c + i * VW;
        V bacc = T::load(d_bias + ci, m);
        for (int64_t h = geo.h0; h < geo.h1; h++)
            for (int64_t w = geo.w0; w < geo.w1; w++) bacc = T::add(bacc, T::load(d_dst + (h * W + w) * C + ci, m));
        T::store(d_bias + ci, m, bacc);
    }
}

// Windows up to this size take the region whole, channel groups outer; larger ones row by row, each
// row's groups in turn, as in dw_conv_region (the rows one output row reads stay in L2). Measured on
// atto/femto at 224: whole regions were faster for the stage 2-4 maps (250-300 KB windows and less)
// and masked tiles, rows for the stage 1 maps (500-600 KB).
constexpr int64_t kDwWeiGroupOuterBytes = 384 * 1024;

template <class T>
void dw_bwd_wei_region(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& geo) {
    auto groups = [&](const DwGeom& r) {
        dw_for_each_chunk<T, false>(r, [&](int64_t c, auto G, auto m, auto kMaxR) {
            dw_wei_groups<T, G, kMaxR>(d_wei, d_bias, d_dst, src, r, c, m);
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

// Submanifold lists (DwSparse). Channels in chunks of G vectors held in registers while a site's
// entries stream past: each entry costs G weight and G input loads for G FMAs. (The chunk loops must
// unroll, or the accumulators live on the stack: that ran 2x slower.)
template <class T, int G, bool kFlip, bool kAccumulate, class M>
inline void dws_conv_chunk(float* out, const float* in, const float* wei, const float* bias, const DwSparse& sp,
                           int64_t s, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = sp.C;
    float* o = out + (int64_t)sp.site[s] * C + c;
    V acc[G];
#pragma GCC unroll 16
    for (int g = 0; g < G; g++) acc[g] = kAccumulate ? T::load(o + g * W, m) : T::load(bias + c + g * W, m);
    for (int32_t e = sp.begin[s]; e < sp.begin[s + 1]; e++) {
        const int64_t t = kFlip ? kDwTaps - 1 - sp.tap[e] : sp.tap[e];
        const float* k = wei + t * C + c;
        const float* x = in + (int64_t)sp.nbr[e] * C + c;
#pragma GCC unroll 16
        for (int g = 0; g < G; g++) acc[g] = T::fmadd(T::load(k + g * W, m), T::load(x + g * W, m), acc[g]);
    }
#pragma GCC unroll 16
    for (int g = 0; g < G; g++) T::store(o + g * W, m, acc[g]);
}

// Chunks outer, sites inner: one chunk's weights (49 taps x G vectors) stay in L1 across the sites.
// (Chunks of up to 8 vectors: 16 measured no faster.)
template <class T, bool kFlip, bool kAccumulate>
void dws_conv(float* out, const float* in, const float* wei, const float* bias, const DwSparse& sp) {
    for_each_chunk<T>(sp.C, [&](int64_t c, auto G, auto m) {
        for (int64_t s = sp.s0; s < sp.s1; s++) dws_conv_chunk<T, G, kFlip, kAccumulate>(out, in, wei, bias, sp, s, c, m);
    });
}

// Sites s0 and s1 = s0 + 1 together (s1 == s0: one site). Their entries are in tap order; where both
// have a tap, the two products go into the tap's gradient row with one load and one store (those,
// not the FMAs, bound this kernel: every entry reads and writes its row).
template <class T, int G, class M>
inline void dws_wei_chunk(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp,
                          int64_t s0, int64_t s1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t W = T::kWidth;
    const int64_t C = sp.C;
    const bool pair = s1 != s0;
    V g0[G], g1[G];
    const float* go0 = d_dst + (int64_t)sp.site[s0] * C + c;
    const float* go1 = d_dst + (int64_t)sp.site[s1] * C + c;
#pragma GCC unroll 16
    for (int i = 0; i < G; i++) {
        g0[i] = T::load(go0 + i * W, m);
        g1[i] = pair ? T::load(go1 + i * W, m) : T::zero();
        T::store(d_bias + c + i * W, m, T::add(T::load(d_bias + c + i * W, m), T::add(g0[i], g1[i])));
    }
    auto one = [&](const V* g, int32_t e) {
        float* k = d_wei + (int64_t)sp.tap[e] * C + c;
        const float* x = src + (int64_t)sp.nbr[e] * C + c;
#pragma GCC unroll 16
        for (int i = 0; i < G; i++) T::store(k + i * W, m, T::fmadd(g[i], T::load(x + i * W, m), T::load(k + i * W, m)));
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
            for (int i = 0; i < G; i++) {
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
    for_each_chunk<T, T::kWidth == 16 ? 8 : 4>(sp.C, [&](int64_t c, auto G, auto m) {
        int64_t s = sp.s0;
        for (; s + 2 <= sp.s1; s += 2) dws_wei_chunk<T, G>(d_wei, d_bias, d_dst, src, sp, s, s + 1, c, m);
        if (s < sp.s1) dws_wei_chunk<T, G>(d_wei, d_bias, d_dst, src, sp, s, s, c, m);
    });
}

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

// For each site (iy, ix) of Q a class uses and each of the G groups: its vector x from xq, and
// f(oy, ox, u, v, i, x) for every site of P it meets through tap offset (u, v) = (iy - oy, ix - ox).
template <class T, int G, int kRow, int kCol, class M, class F>
__attribute__((always_inline)) inline void dwp_products(const float* xq, int64_t W, int64_t C, M m, F&& f) {
    constexpr int P = kDwPairTile;
#pragma GCC unroll 2
    for (int iy = 0; iy < P; iy++)
#pragma GCC unroll 2
        for (int ix = 0; ix < P; ix++)
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) {
                if (!dwp_in_used(kRow, iy) || !dwp_in_used(kCol, ix)) continue;
                const typename T::V x = T::load(xq + (iy * W + ix) * C + i * T::kWidth, m);
#pragma GCC unroll 2
                for (int oy = 0; oy < P; oy++)
#pragma GCC unroll 2
                    for (int ox = 0; ox < P; ox++)
                        if (dwp_meets(kRow, iy - oy) && dwp_meets(kCol, ix - ox)) f(oy, ox, iy - oy, ix - ox, i, x);
            }
}

template <class T, int G, int kRow, int kCol, class M>
inline void dwp_class(float* d_wei, const float* d_dst, const float* src, const DwPairs& pp, int k, int32_t e0,
                      int32_t e1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    constexpr int P = kDwPairTile;
    const int64_t C = pp.C, W = pp.W;
    if (e0 == e1) return;
    V acc[3][3][G];  // tap (3 + 2dy + u, 3 + 2dx + v) at [u + 1][v + 1]
#pragma GCC unroll 3
    for (int u = 0; u < 3; u++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) acc[u][v][i] = T::zero();
    // The centre tap takes 4 products per pair, a chain of 4 FMA latencies: the products of output
    // row 1 go to a second sum (AVX2, one group, 1.1x faster; AVX-512 measured the same).
    V centre2[G];
#pragma GCC unroll 2
    for (int i = 0; i < G; i++) centre2[i] = T::zero();
    for (int32_t e = e0; e < e1; e++) {
        const float* go = d_dst + (int64_t)pp.out[e] * C + c;
        const float* xq = src + (int64_t)pp.in[e] * C + c;
        V g[P][P][G];
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) g[oy][ox][i] = T::load(go + (oy * W + ox) * C + i * VW, m);
        });
        dwp_products<T, G, kRow, kCol>(xq, W, C, m, [&](int oy, int ox, int u, int v, int i, V x) {
            V& a = u == 0 && v == 0 && oy == 1 ? centre2[i] : acc[u + 1][v + 1][i];
            a = T::fmadd(g[oy][ox][i], x, a);
        });
    }
#pragma GCC unroll 2
    for (int i = 0; i < G; i++) acc[1][1][i] = T::add(acc[1][1][i], centre2[i]);
    const int dy = k / 5 - 2, dx = k % 5 - 2;
#pragma GCC unroll 3
    for (int u = -1; u <= 1; u++)
#pragma GCC unroll 3
        for (int v = -1; v <= 1; v++) {
            if (!dwp_meets(kRow, u) || !dwp_meets(kCol, v)) continue;
            float* kr = d_wei + ((kDwPad + P * dy + u) * kDwK + (kDwPad + P * dx + v)) * C + c;
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) T::store(kr + i * VW, m, T::add(T::load(kr + i * VW, m), acc[u + 1][v + 1][i]));
        }
}

// Blocks of this many tiles P (a few images' visible tiles at stage 3): a block's tiles and their
// neighbours stay in L1 across the 25 class passes of a chunk. (Measured on atto/femto stage 3:
// 32 was 1.1-1.2x faster than the whole range at once, 16 and 64 in between.)
constexpr int64_t kDwPairBlock = 32;

// The driver of the tile-pair kernels: blocks of kDwPairBlock tiles; in a block, the channel chunks
// (2 vectors on AVX-512, 1 on AVX2: a class's 9 x G tap vectors, 4 x G vectors of one tile and an
// input vector fit the registers); in a chunk, the 25 classes (class 12 first when kMidFirst):
// f(k, e0, e1, c, G, mask, kRow, kCol) for class k's pairs [e0, e1) in the block, then
// chunk_done(e0, e1, c, G, mask) with class 12's pairs (every tile of the block once).
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
        for_each_chunk<T, T::kWidth == 16 ? 2 : 1>(pp.C, [&](int64_t c, auto G, auto m) {
            for (int n = 0; n < kDwPairClasses; n++) {
                const int k = !kMidFirst ? n : n == 0 ? kMid : n <= kMid ? n - 1 : n;
                const int dy = k / 5 - 2, dx = k % 5 - 2;
                auto run = [&](auto kRow, auto kCol) { f(k, lo[k], hi[k], c, G, m, kRow, kCol); };
                auto cols = [&](auto kRow) { dx == -2 ? run(kRow, ic_lo{}) : dx == 2 ? run(kRow, ic_hi{}) : run(kRow, ic_mid{}); };
                dy == -2 ? cols(ic_lo{}) : dy == 2 ? cols(ic_hi{}) : cols(ic_mid{});
            }
            chunk_done(lo[kMid], hi[kMid], c, G, m);
        });
        for (int k = 0; k < kDwPairClasses; k++) lo[k] = hi[k];
    }
}

// 2.0-2.2x faster than the lists' kernel (dws_bwd_wei) on the atto/femto stage-3 maps at mask
// ratio 0.6, one core.
template <class T>
void dwp_bwd_wei(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dwp_drive<T, false>(
        pp,
        [&](int k, int32_t e0, int32_t e1, int64_t c, auto G, auto m, auto kRow, auto kCol) {
            dwp_class<T, G, kRow, kCol>(d_wei, d_dst, src, pp, k, e0, e1, c, m);
        },
        // bias: a sum per site of the tile (4 chains)
        [&](int32_t e0, int32_t e1, int64_t c, auto G, auto m) {
            for (int i = 0; i < G; i++) {
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
template <class T, int G, int kRow, int kCol, bool kFlip, bool kInit, class M>
inline void dwp_conv_class(float* out, const float* in, const float* wei, const float* bias, const DwPairs& pp, int k,
                           int32_t e0, int32_t e1, int64_t c, M m) {
    using V = typename T::V;
    constexpr int64_t VW = T::kWidth;
    constexpr int P = kDwPairTile;
    const int64_t C = pp.C, W = pp.W;
    if (e0 == e1) return;
    const int dy = k / 5 - 2, dx = k % 5 - 2;
    V w[3][3][G];  // tap (3 + 2dy + u, 3 + 2dx + v) at [u + 1][v + 1]
#pragma GCC unroll 3
    for (int u = -1; u <= 1; u++)
#pragma GCC unroll 3
        for (int v = -1; v <= 1; v++) {
            if (!dwp_meets(kRow, u) || !dwp_meets(kCol, v)) continue;
            const int64_t tap = (kDwPad + P * dy + u) * kDwK + (kDwPad + P * dx + v);
            const float* kr = wei + (kFlip ? kDwTaps - 1 - tap : tap) * C + c;
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) w[u + 1][v + 1][i] = T::load(kr + i * VW, m);
        }
    for (int32_t e = e0; e < e1; e++) {
        float* po = out + (int64_t)pp.out[e] * C + c;
        const float* xq = in + (int64_t)pp.in[e] * C + c;
        V acc[P][P][G];
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) acc[oy][ox][i] = T::load((kInit ? bias + c : po + (oy * W + ox) * C) + i * VW, m);
        });
        dwp_products<T, G, kRow, kCol>(xq, W, C, m, [&](int oy, int ox, int u, int v, int i, V x) {
            acc[oy][ox][i] = T::fmadd(w[u + 1][v + 1][i], x, acc[oy][ox][i]);
        });
        dwp_out_sites<kRow, kCol>([&](int oy, int ox) {
#pragma GCC unroll 2
            for (int i = 0; i < G; i++) T::store(po + (oy * W + ox) * C + i * VW, m, acc[oy][ox][i]);
        });
    }
}

// Forward (kFlip false: class 12 first, starting from the bias) and backward-data (kFlip: adds).
template <class T, bool kFlip>
void dwp_conv(float* out, const float* in, const float* wei, const float* bias, const DwPairs& pp) {
    dwp_drive<T, !kFlip>(
        pp,
        [&](int k, int32_t e0, int32_t e1, int64_t c, auto G, auto m, auto kRow, auto kCol) {
            if constexpr (!kFlip && kRow == 0 && kCol == 0)
                if (k == kDwPairClasses / 2)
                    return dwp_conv_class<T, G, kRow, kCol, kFlip, true>(out, in, wei, bias, pp, k, e0, e1, c, m);
            dwp_conv_class<T, G, kRow, kCol, kFlip, false>(out, in, wei, bias, pp, k, e0, e1, c, m);
        },
        [](int32_t, int32_t, int64_t, auto, auto) {});
}

}  // namespace
}  // namespace cnx

namespace cnx {
namespace {

// The kernel list's entry points (simd/kernels.inc): each family's signature over the algorithms above.
template <class T>
void dwconv_fwd_simd(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
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
template <class T>
void dwconv_sparse_fwd_simd(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
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
