// Depthwise 7x7 kernels over the vector traits of simd/vec.h (instantiated by dwconv_avx512.cpp and
// dwconv_avx2.cpp). Vectorised along C (one channel group of kWidth lanes at a time, masked tail);
// register-blocked along W: a block of R output pixels keeps R accumulators and the 7 taps of one
// kernel row in registers, and each input vector it loads feeds up to 7 of them.
#pragma once

#include "simd/dwconv/dwconv.h"
#include "simd/vec.h"

namespace cnx {
namespace {

// Register block along W per ISA (AVX2 has 16 vector registers: 4 accumulators + 7 taps fit).
template <class T>
constexpr int dw_block() {
    return T::kWidth == 16 ? 8 : 4;
}

// out[h][w] (=bias, or +=) sum_{a,b} K(a,b) * in[h+a-3][w+b-3] for w in [w, w+R) of one row h.
// K(a,b) = wei[a][b], or wei[6-a][6-b] when kFlip (the backward-data correlation).
template <class T, int R, bool kFlip, bool kAccumulate>
inline void dw_row_block(float* out, const float* in, const float* wei, const float* bias, int64_t H, int64_t W,
                         int64_t C, int64_t c, typename T::Mask m, int64_t h, int64_t w) {
    using V = typename T::V;
    V acc[R];
    const V init = kAccumulate ? T::zero() : T::load(bias + c, m);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) acc[r] = kAccumulate ? T::load(out + ((h * W) + w + r) * C + c, m) : init;
    const int a_lo = h < kDwPad ? (int)(kDwPad - h) : 0;
    const int a_hi = h + kDwPad >= H ? (int)(H + kDwPad - h) : kDwK;
    for (int a = a_lo; a < a_hi; a++) {
        const float* row = in + (h + a - kDwPad) * W * C + c;
        V k[kDwK];
#pragma GCC unroll 16
        for (int b = 0; b < kDwK; b++) {
            const int tap = kFlip ? (kDwK - 1 - a) * kDwK + (kDwK - 1 - b) : a * kDwK + b;
            k[b] = T::load(wei + tap * C + c, m);
        }
#pragma GCC unroll 16
        for (int qi = 0; qi < R + kDwK - 1; qi++) {
            const int64_t q = w - kDwPad + qi;
            if (q < 0 || q >= W) continue;
            const V x = T::load(row + q * C, m);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const int b = qi - r;
                if (b >= 0 && b < kDwK) acc[r] = T::fmadd(k[b], x, acc[r]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) T::store(out + ((h * W) + w + r) * C + c, m, acc[r]);
}

template <class T, bool kFlip, bool kAccumulate>
void dw_conv_region(float* out, const float* in, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    constexpr int R = dw_block<T>();
    for (int64_t c = 0; c < C; c += T::kWidth) {
        const auto m = T::tail(C - c);
        for (int64_t h = h0; h < h1; h++) {
            int64_t w = w0;
            for (; w + R <= w1; w += R) dw_row_block<T, R, kFlip, kAccumulate>(out, in, wei, bias, H, W, C, c, m, h, w);
            for (; w + 2 <= w1; w += 2) dw_row_block<T, 2, kFlip, kAccumulate>(out, in, wei, bias, H, W, C, c, m, h, w);
            for (; w < w1; w++) dw_row_block<T, 1, kFlip, kAccumulate>(out, in, wei, bias, H, W, C, c, m, h, w);
        }
    }
}

// acc[b] += sum_{r} g[w+r] * src_row[w+r+b-3] for one row block (kernel row fixed by the caller).
template <class T, int R>
inline void dw_wei_block(typename T::V* acc, const float* g_row, const float* src_row, int64_t W, int64_t C,
                         typename T::Mask m, int64_t w) {
    using V = typename T::V;
    V g[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) g[r] = T::load(g_row + (w + r) * C, m);
#pragma GCC unroll 16
    for (int qi = 0; qi < R + kDwK - 1; qi++) {
        const int64_t q = w - kDwPad + qi;
        if (q < 0 || q >= W) continue;
        const V x = T::load(src_row + q * C, m);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const int b = qi - r;
            if (b >= 0 && b < kDwK) acc[b] = T::fmadd(g[r], x, acc[b]);
        }
    }
}

template <class T>
void dw_bwd_wei_region(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                       int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    using V = typename T::V;
    constexpr int R = dw_block<T>();
    for (int64_t c = 0; c < C; c += T::kWidth) {
        const auto m = T::tail(C - c);
        for (int a = 0; a < kDwK; a++) {
            V acc[kDwK];
            for (int b = 0; b < kDwK; b++) acc[b] = T::zero();
            for (int64_t h = h0; h < h1; h++) {
                const int64_t hi = h + a - kDwPad;
                if (hi < 0 || hi >= H) continue;
                const float* g_row = d_dst + h * W * C + c;
                const float* src_row = src + hi * W * C + c;
                int64_t w = w0;
                for (; w + R <= w1; w += R) dw_wei_block<T, R>(acc, g_row, src_row, W, C, m, w);
                for (; w < w1; w++) dw_wei_block<T, 1>(acc, g_row, src_row, W, C, m, w);
            }
            for (int b = 0; b < kDwK; b++) {
                float* dst = d_wei + (a * kDwK + b) * C + c;
                T::store(dst, m, T::add(T::load(dst, m), acc[b]));
            }
        }
        V bacc = T::zero();
        for (int64_t h = h0; h < h1; h++)
            for (int64_t w = w0; w < w1; w++) bacc = T::add(bacc, T::load(d_dst + (h * W + w) * C + c, m));
        T::store(d_bias + c, m, T::add(T::load(d_bias + c, m), bacc));
    }
}

}  // namespace
}  // namespace cnx
