// Scalar reference depthwise 7x7: a direct loop over output pixels and in-image taps.
#include "simd/dwconv/dwconv.h"

namespace cnx {

void dwconv_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    for (int64_t h = h0; h < h1; h++) {
        for (int64_t w = w0; w < w1; w++) {
            float* out = dst + (h * W + w) * C;
            for (int64_t c = 0; c < C; c++) out[c] = bias[c];
            for (int i = 0; i < kDwK; i++) {
                int64_t hi = h + i - kDwPad;
                if (hi < 0 || hi >= H) continue;
                for (int j = 0; j < kDwK; j++) {
                    int64_t wi = w + j - kDwPad;
                    if (wi < 0 || wi >= W) continue;
                    const float* in = src + (hi * W + wi) * C;
                    const float* k = wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) out[c] += k[c] * in[c];
                }
            }
        }
    }
}

void dwconv_bwd_data_ref(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W, int64_t C,
                         int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    for (int64_t h = h0; h < h1; h++) {
        for (int64_t w = w0; w < w1; w++) {
            float* out = d_src + (h * W + w) * C;
            for (int i = 0; i < kDwK; i++) {
                int64_t ho = h - i + kDwPad;
                if (ho < 0 || ho >= H) continue;
                for (int j = 0; j < kDwK; j++) {
                    int64_t wo = w - j + kDwPad;
                    if (wo < 0 || wo >= W) continue;
                    const float* g = d_dst + (ho * W + wo) * C;
                    const float* k = wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) out[c] += k[c] * g[c];
                }
            }
        }
    }
}

void dwconv_bwd_wei_ref(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                        int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    for (int64_t h = h0; h < h1; h++) {
        for (int64_t w = w0; w < w1; w++) {
            const float* g = d_dst + (h * W + w) * C;
            for (int64_t c = 0; c < C; c++) d_bias[c] += g[c];
            for (int i = 0; i < kDwK; i++) {
                int64_t hi = h + i - kDwPad;
                if (hi < 0 || hi >= H) continue;
                for (int j = 0; j < kDwK; j++) {
                    int64_t wi = w + j - kDwPad;
                    if (wi < 0 || wi >= W) continue;
                    const float* in = src + (hi * W + wi) * C;
                    float* k = d_wei + (i * kDwK + j) * C;
                    for (int64_t c = 0; c < C; c++) k[c] += g[c] * in[c];
                }
            }
        }
    }
}

}  // namespace cnx
