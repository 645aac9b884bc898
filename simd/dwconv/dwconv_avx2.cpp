#include "simd/dwconv/dwconv.h"
#include "simd/dwconv/dwconv_simd.h"

namespace cnx {

void dwconv_fwd_avx2(float* dst, const float* src, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    dw_conv_region<Avx2, false, false>(dst, src, wei, bias, H, W, C, h0, h1, w0, w1);
}

void dwconv_bwd_data_avx2(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W, int64_t C,
                         int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    dw_conv_region<Avx2, true, true>(d_src, d_dst, wei, nullptr, H, W, C, h0, h1, w0, w1);
}

void dwconv_bwd_wei_avx2(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                        int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    dw_bwd_wei_region<Avx2>(d_wei, d_bias, d_dst, src, H, W, C, h0, h1, w0, w1);
}

}  // namespace cnx
