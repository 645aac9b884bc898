// Scalar reference depthwise 7x7 over tile pairs: per class, per pair, the products inside the kernel.
#include "simd/kernels.h"

namespace cnx {

// The products of the pairs of class k that land inside the kernel: f(output site offset, input
// site offset, tap), offsets in tokens from the tiles' top-left sites.
template <class F>
static void pair_products(int k, int64_t W, F&& f) {
    const int dy = k / 5 - 2, dx = k % 5 - 2;
    for (int oy = 0; oy < kDwPairTile; oy++)
        for (int ox = 0; ox < kDwPairTile; ox++)
            for (int iy = 0; iy < kDwPairTile; iy++)
                for (int ix = 0; ix < kDwPairTile; ix++) {
                    const int a = kDwPad + kDwPairTile * dy + iy - oy, b = kDwPad + kDwPairTile * dx + ix - ox;
                    if (a >= 0 && a < kDwK && b >= 0 && b < kDwK) f(oy * W + ox, iy * W + ix, a * kDwK + b);
                }
}

// Each tile of the call once (class 12: Q = P): f(token of one of its sites).
template <class F>
static void pair_tile_sites(const DwPairs& pp, F&& f) {
    int32_t e0, e1;
    dw_pairs_range(pp, kDwPairClasses / 2, &e0, &e1);
    for (int32_t e = e0; e < e1; e++)
        for (int q = 0; q < kDwPairTile * kDwPairTile; q++) f(pp.out[e] + q / kDwPairTile * pp.W + q % kDwPairTile);
}

// out[site of P] += wei[tap] * in[site of Q] over the pairs (wei[48 - tap] when flip).
static void pairs_accumulate_ref(float* out, const float* in, const float* wei, const DwPairs& pp, bool flip) {
    const int64_t C = pp.C;
    for (int k = 0; k < kDwPairClasses; k++) {
        int32_t e0, e1;
        dw_pairs_range(pp, k, &e0, &e1);
        for (int32_t e = e0; e < e1; e++)
            pair_products(k, pp.W, [&](int64_t o, int64_t i, int tap) {
                float* po = out + (pp.out[e] + o) * C;
                const float* x = in + (pp.in[e] + i) * C;
                const float* kr = wei + (int64_t)(flip ? kDwTaps - 1 - tap : tap) * C;
                for (int64_t c = 0; c < C; c++) po[c] += kr[c] * x[c];
            });
    }
}

void dwconv_pairs_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp) {
    dw_dcheck(pp);
    pair_tile_sites(pp, [&](int64_t t) {
        for (int64_t c = 0; c < pp.C; c++) dst[t * pp.C + c] = bias[c];
    });
    pairs_accumulate_ref(dst, src, wei, pp, false);
}

void dwconv_pairs_bwd_data_ref(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp) {
    dw_dcheck(pp);
    pairs_accumulate_ref(d_src, d_dst, wei, pp, true);
}

void dwconv_pairs_bwd_wei_ref(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dw_dcheck(pp);
    const int64_t C = pp.C;
    pair_tile_sites(pp, [&](int64_t t) {
        for (int64_t c = 0; c < C; c++) d_bias[c] += d_dst[t * C + c];
    });
    for (int k = 0; k < kDwPairClasses; k++) {
        int32_t e0, e1;
        dw_pairs_range(pp, k, &e0, &e1);
        for (int32_t e = e0; e < e1; e++)
            pair_products(k, pp.W, [&](int64_t o, int64_t i, int tap) {
                const float* gr = d_dst + (pp.out[e] + o) * C;
                const float* in = src + (pp.in[e] + i) * C;
                float* kr = d_wei + (int64_t)tap * C;
                for (int64_t c = 0; c < C; c++) kr[c] += gr[c] * in[c];
            });
    }
}

}  // namespace cnx
