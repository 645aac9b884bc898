// The register blocks of the depthwise region kernels (simd/dwconv/dwconv_regions_simd.h) over the
// vector traits of simd/vec.h: vectorised along C (one channel group of kWidth lanes at a time,
// masked tail); register-blocked along W: a block of R output pixels keeps R accumulators and the 7
// taps of one kernel row in registers, and each input vector it loads feeds up to 7 of them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "simd/dwconv/dwconv_regions.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Register block along W per ISA: AVX-512 keeps 12 accumulators + 7 taps + 1 input in its 32
// registers (enough independent FMA chains); AVX2 has 16 registers, 4 fit. The unrolled loops must
// unroll fully (R + 6 <= 32) so that the accumulators stay in registers.
template <class T>
constexpr int dw_block() {
    return T::kWidth == 16 ? 12 : 4;
}
template <class T>
constexpr int dw_registers() {
    return T::kWidth == 16 ? 32 : 16;
}
static_assert(12 + kDwK - 1 <= 32, "the column loops must unroll fully");

// The unrolled column loops step one pointer by C; hidden from the optimiser, the R + 6 column
// offsets are not hoisted as loop invariants (too many for the general registers: they spill).
inline void dw_opaque(const float*& p) { asm("" : "+r"(p)); }

// The column walk of one row block: for each input column w - 3 + qi in reach (every one when
// kInterior, else those with bit qi of `cols`), for each of the kGroups channel groups, its vector x, and
// f(i, r, b, x) for every output column w + r that reads it through kernel column b = qi - r.
template <class T, int kGroups, int R, bool kInterior, class M, class F>
__attribute__((always_inline)) inline void dw_walk_columns(const float* xp, int64_t C, uint32_t cols, M m, F&& f) {
#pragma GCC unroll 32
    for (int qi = 0; qi < R + kDwK - 1; qi++, xp += C) {
        dw_opaque(xp);
        if (!kInterior && !((cols >> qi) & 1u)) continue;
#pragma GCC unroll 4
        for (int i = 0; i < kGroups; i++) {
            const typename T::V x = T::load(xp + i * T::kWidth, m);
#pragma GCC unroll 32
            for (int r = 0; r < R; r++) {
                const int b = qi - r;
                if (b >= 0 && b < kDwK) f(i, r, b, x);
            }
        }
    }
}

// Bit qi set when input column w - 3 + qi (qi < R + 6) lies inside the window, one mask per band of
// input rows: computed once per block, so the unrolled column loops test one bit, not two compares
// per column per kernel row.
struct DwBlockCols {
    uint32_t band[3];
};

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

// f(c, kGroups, mask, kMaxR) over the channels of a region in the chunks its kernels take: one channel
// group at a time in column blocks of up to dw_block, or, for masked tiles 4 or 8 wide on AVX-512
// (narrower than a full block, a whole number of 4-wide blocks), two groups per 4-wide block: twice
// the FMA chains and half the blocks. The 7-wide stage-4 map keeps its 7-wide blocks. kGroups and kMaxR
// are std::integral_constant.
// The convolutions take an 8-wide tile (stage 1) in one 8-wide block per group: fewer weight loads
// per FMA, and a channel tail no longer runs in 4-wide blocks alone (not the weight gradient: its 7
// accumulator chains would each take 8 FMAs per row). Maps 7 or 14 wide (stages 4 and 3 at 224) run
// two groups per 7-wide block: 14 FMA chains instead of 7, and no 2-wide rest at 14.
template <class T, bool kConv, class F>
inline void dw_for_each_chunk(const DwGeom& g, F&& f) {
    if constexpr (T::kWidth == 16) {
        const int64_t w = g.w1 - g.w0;
        if (kConv && (w == 7 || w == 14))
            return for_each_chunk<T, 2>(g.C, [&](int64_t c, auto kGroups, auto m) { f(c, kGroups, m, std::integral_constant<int, 7>{}); });
        if (kConv && w == 8)
            return for_each_chunk<T, 1>(g.C, [&](int64_t c, auto kGroups, auto m) { f(c, kGroups, m, std::integral_constant<int, 8>{}); });
        if (w < dw_block<T>() && w % 4 == 0)
            return for_each_chunk<T, 2>(g.C, [&](int64_t c, auto kGroups, auto m) { f(c, kGroups, m, std::integral_constant<int, 4>{}); });
    }
    for_each_chunk<T, 1>(g.C, [&](int64_t c, auto kGroups, auto m) { f(c, kGroups, m, std::integral_constant<int, dw_block<T>()>{}); });
}

}  // namespace
}  // namespace cnx
