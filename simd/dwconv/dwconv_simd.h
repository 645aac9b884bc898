// Depthwise 7x7 kernels over the vector traits of simd/vec.h (instantiated by dwconv_avx512.cpp and
// dwconv_avx2.cpp). Vectorised along C (one channel group of kWidth lanes at a time, masked tail);
// register-blocked along W: a block of R output pixels keeps R accumulators and the 7 taps of one
// kernel row in registers, and each input vector it loads feeds up to 7 of them.
#pragma once

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
static_assert(12 + kDwK - 1 <= 32, "the column loops must unroll fully");

// out[h][w] (=bias, or +=) sum_{a,b} K(a,b) * in[h+a-3][w+b-3] for w in [w, w+R) of one row h.
// K(a,b) = wei[a][b], or wei[6-a][6-b] when kFlip (the backward-data correlation).
// Kernel rows a whose input row h + a - 3 lies inside the window.
inline int dw_a_lo(const DwGeom& g, int64_t h) { return h - kDwPad < g.ih0 ? (int)(g.ih0 - h + kDwPad) : 0; }
inline int dw_a_hi(const DwGeom& g, int64_t h) { return h + kDwPad >= g.ih1 ? (int)(g.ih1 - h + kDwPad) : kDwK; }

// Interior blocks (every input column of their reach inside the window) skip the column checks.
template <class T, int R, bool kFlip, bool kAccumulate, bool kInterior>
inline void dw_row_block(float* out, const float* in, const float* wei, const float* bias, const DwGeom& g, int64_t c,
                         typename T::Mask m, int64_t h, int64_t w) {
    using V = typename T::V;
    const int64_t W = g.W, C = g.C;
    V acc[R];
    const V init = kAccumulate ? T::zero() : T::load(bias + c, m);
#pragma GCC unroll 32
    for (int r = 0; r < R; r++) acc[r] = kAccumulate ? T::load(out + ((h * W) + w + r) * C + c, m) : init;
    const int a_lo = dw_a_lo(g, h), a_hi = dw_a_hi(g, h);
    for (int a = a_lo; a < a_hi; a++) {
        V k[kDwK];
#pragma GCC unroll 32
        for (int b = 0; b < kDwK; b++) {
            const int tap = kFlip ? (kDwK - 1 - a) * kDwK + (kDwK - 1 - b) : a * kDwK + b;
            k[b] = T::load(wei + tap * C + c, m);
        }
        // element offset of input column w - 3 (only in-window columns become pointers)
        int64_t o = ((h + a - kDwPad) * W + (w - kDwPad)) * C + c;
#pragma GCC unroll 32
        for (int qi = 0; qi < R + kDwK - 1; qi++, o += C) {
            if (!kInterior) {
                const int64_t q = w - kDwPad + qi;
                if (q < g.iw0 || q >= g.iw1) continue;
            }
            const V x = T::load(in + o, m);
#pragma GCC unroll 32
            for (int r = 0; r < R; r++) {
                const int b = qi - r;
                if (b >= 0 && b < kDwK) acc[r] = T::fmadd(k[b], x, acc[r]);
            }
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < R; r++) T::store(out + ((h * W) + w + r) * C + c, m, acc[r]);
}

// True when columns [w - 3, w + R + 3) lie inside the window.
inline bool dw_interior(const DwGeom& g, int64_t w, int R) { return w - kDwPad >= g.iw0 && w + R + kDwPad <= g.iw1; }

template <class T, bool kFlip, bool kAccumulate>
void dw_conv_region(float* out, const float* in, const float* wei, const float* bias, const DwGeom& g) {
    constexpr int R = dw_block<T>();
    for (int64_t c = 0; c < g.C; c += T::kWidth) {
        const auto m = T::tail(g.C - c);
        for (int64_t h = g.h0; h < g.h1; h++) {
            int64_t w = g.w0;
            for (; w + R <= g.w1; w += R) {
                if (dw_interior(g, w, R)) dw_row_block<T, R, kFlip, kAccumulate, true>(out, in, wei, bias, g, c, m, h, w);
                else dw_row_block<T, R, kFlip, kAccumulate, false>(out, in, wei, bias, g, c, m, h, w);
            }
            for (; w + 2 <= g.w1; w += 2) dw_row_block<T, 2, kFlip, kAccumulate, false>(out, in, wei, bias, g, c, m, h, w);
            for (; w < g.w1; w++) dw_row_block<T, 1, kFlip, kAccumulate, false>(out, in, wei, bias, g, c, m, h, w);
        }
    }
}

// acc[b] += sum_{r} g[w+r] * src_row[w+r+b-3] for one row block (kernel row fixed by the caller).
template <class T, int R, bool kInterior>
inline void dw_wei_block(typename T::V* acc, const float* g_row, const float* src_row, const DwGeom& geo,
                         typename T::Mask m, int64_t w) {
    using V = typename T::V;
    const int64_t C = geo.C;
    V g[R];
#pragma GCC unroll 32
    for (int r = 0; r < R; r++) g[r] = T::load(g_row + (w + r) * C, m);
    int64_t o = (w - kDwPad) * C;  // offset of input column w - 3 from the row start
#pragma GCC unroll 32
    for (int qi = 0; qi < R + kDwK - 1; qi++, o += C) {
        if (!kInterior) {
            const int64_t q = w - kDwPad + qi;
            if (q < geo.iw0 || q >= geo.iw1) continue;
        }
        const V x = T::load(src_row + o, m);
#pragma GCC unroll 32
        for (int r = 0; r < R; r++) {
            const int b = qi - r;
            if (b >= 0 && b < kDwK) acc[b] = T::fmadd(g[r], x, acc[b]);
        }
    }
}

template <class T>
void dw_bwd_wei_region(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& geo) {
    using V = typename T::V;
    constexpr int R = dw_block<T>();
    const int64_t W = geo.W, C = geo.C;
    for (int64_t c = 0; c < C; c += T::kWidth) {
        const auto m = T::tail(C - c);
        for (int a = 0; a < kDwK; a++) {
            V acc[kDwK];
            for (int b = 0; b < kDwK; b++) acc[b] = T::zero();
            for (int64_t h = geo.h0; h < geo.h1; h++) {
                const int64_t hi = h + a - kDwPad;
                if (hi < geo.ih0 || hi >= geo.ih1) continue;
                const float* g_row = d_dst + h * W * C + c;
                const float* src_row = src + hi * W * C + c;
                int64_t w = geo.w0;
                for (; w + R <= geo.w1; w += R) {
                    if (dw_interior(geo, w, R)) dw_wei_block<T, R, true>(acc, g_row, src_row, geo, m, w);
                    else dw_wei_block<T, R, false>(acc, g_row, src_row, geo, m, w);
                }
                for (; w < geo.w1; w++) dw_wei_block<T, 1, false>(acc, g_row, src_row, geo, m, w);
            }
            for (int b = 0; b < kDwK; b++) {
                float* dst = d_wei + (a * kDwK + b) * C + c;
                T::store(dst, m, T::add(T::load(dst, m), acc[b]));
            }
        }
        V bacc = T::zero();
        for (int64_t h = geo.h0; h < geo.h1; h++)
            for (int64_t w = geo.w0; w < geo.w1; w++) bacc = T::add(bacc, T::load(d_dst + (h * W + w) * C + c, m));
        T::store(d_bias + c, m, T::add(T::load(d_bias + c, m), bacc));
    }
}

}  // namespace
}  // namespace cnx
