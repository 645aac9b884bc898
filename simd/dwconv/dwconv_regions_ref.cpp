// Scalar reference depthwise 7x7 over output regions: a direct loop over output pixels and the taps
// inside the window.
#include "simd/kernels.h"

namespace cnx {

void dwconv_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_dcheck(g);
    const int64_t W = g.W, C = g.C;
    for (int64_t h = g.h0; h < g.h1; h++) {
        for (int64_t w = g.w0; w < g.w1; w++) {
            float* out = dst + (h * W + w) * C;
            for (int64_t c = 0; c < C; c++) out[c] = bias[c];
            for (int i = 0; i < kDwK; i++)
                for (int j = 0; j < kDwK; j++) {
                    const int64_t hi = h + i - kDwPad, wi = w + j - kDwPad;
                    if (!dw_in_window(g, hi, wi)) continue;
                    const float* in = src + (hi * W + wi) * C;
                    const float* k = wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) out[c] += k[c] * in[c];
                }
        }
    }
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
