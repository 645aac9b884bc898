// Scalar reference depthwise 7x7 over output regions: a direct loop over output pixels and the taps
// inside the window.
#include <algorithm>

#include "simd/kernels.h"

namespace cnx {

// A pixel's sums in fp32 (of up to kDwMaxRefChannels channels at a time), then stored as Out.
constexpr int64_t kDwMaxRefChannels = 256;

template <class Out>
static void dwconv_fwd_ref_as(Out* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_dcheck(g);
    const int64_t W = g.W, C = g.C;
    float acc[kDwMaxRefChannels];
    for (int64_t h = g.h0; h < g.h1; h++) {
        for (int64_t w = g.w0; w < g.w1; w++) {
            for (int64_t c0 = 0; c0 < C; c0 += kDwMaxRefChannels) {
                const int64_t n = std::min(kDwMaxRefChannels, C - c0);
                for (int64_t c = 0; c < n; c++) acc[c] = bias[c0 + c];
                for (int i = 0; i < kDwK; i++)
                    for (int j = 0; j < kDwK; j++) {
                        const int64_t hi = h + i - kDwPad, wi = w + j - kDwPad;
                        if (!dw_in_window(g, hi, wi)) continue;
                        const float* in = src + (hi * W + wi) * C + c0;
                        const float* k = wei + (i * kDwK + j) * C + c0;
                        for (int64_t c = 0; c < n; c++) acc[c] += k[c] * in[c];
                    }
                Out* out = dst + (h * W + w) * C + c0;
                for (int64_t c = 0; c < n; c++) store_out(out + c, acc[c]);
            }
        }
    }
}

void dwconv_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dwconv_fwd_ref_as(dst, src, wei, bias, g);
}

void dwconv_fwd_bf16_ref(bf16* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dwconv_fwd_ref_as(dst, src, wei, bias, g);
}

void dwconv_bwd_data_ref(float* d_src, const float* d_dst, const float* wei, const DwGeom& g) {
    dw_dcheck(g);
    const int64_t W = g.W, C = g.C;
    for (int64_t h = g.h0; h < g.h1; h++) {
        for (int64_t w = g.w0; w < g.w1; w++) {
            float* out = d_src + (h * W + w) * C;
            for (int i = 0; i < kDwK; i++)
                for (int j = 0; j < kDwK; j++) {
                    const int64_t ho = h - i + kDwPad, wo = w - j + kDwPad;
                    if (!dw_in_window(g, ho, wo)) continue;
                    const float* gr = d_dst + (ho * W + wo) * C;
                    const float* k = wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) out[c] += k[c] * gr[c];
                }
        }
    }
}

void dwconv_bwd_wei_ref(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g) {
    dw_dcheck(g);
    const int64_t W = g.W, C = g.C;
    for (int64_t h = g.h0; h < g.h1; h++) {
        for (int64_t w = g.w0; w < g.w1; w++) {
            const float* gr = d_dst + (h * W + w) * C;
            for (int64_t c = 0; c < C; c++) d_bias[c] += gr[c];
            for (int i = 0; i < kDwK; i++)
                for (int j = 0; j < kDwK; j++) {
                    const int64_t hi = h + i - kDwPad, wi = w + j - kDwPad;
                    if (!dw_in_window(g, hi, wi)) continue;
                    const float* in = src + (hi * W + wi) * C;
                    float* k = d_wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) k[c] += gr[c] * in[c];
                }
        }
    }
}

}  // namespace cnx
