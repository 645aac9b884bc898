#include "simd/dwconv/dwconv.h"
#include "simd/dwconv/dwconv_simd.h"

namespace cnx {

void dwconv_fwd_avx512(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_conv_region<Avx512, false, false>(dst, src, wei, bias, g);
}

void dwconv_bwd_data_avx512(float* d_src, const float* d_dst, const float* wei, const DwGeom& g) {
    dw_conv_region<Avx512, true, true>(d_src, d_dst, wei, nullptr, g);
}

void dwconv_bwd_wei_avx512(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g) {
    dw_bwd_wei_region<Avx512>(d_wei, d_bias, d_dst, src, g);
}

void dwconv_sparse_fwd_avx512(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dws_conv<Avx512, false, false>(dst, src, wei, bias, sp);
}

void dwconv_sparse_bwd_data_avx512(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp) {
    dws_conv<Avx512, true, true>(d_src, d_dst, wei, nullptr, sp);
}

void dwconv_sparse_bwd_wei_avx512(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp) {
    dws_bwd_wei<Avx512>(d_wei, d_bias, d_dst, src, sp);
}

void dwconv_pairs_bwd_wei_avx512(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dwp_bwd_wei<Avx512>(d_wei, d_bias, d_dst, src, pp);
}

void dwconv_pairs_fwd_avx512(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp) {
    dwp_conv<Avx512, false>(dst, src, wei, bias, pp);
}

void dwconv_pairs_bwd_data_avx512(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp) {
    dwp_conv<Avx512, true>(d_src, d_dst, wei, nullptr, pp);
}

}  // namespace cnx
