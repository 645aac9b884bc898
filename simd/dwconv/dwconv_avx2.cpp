#include "simd/dwconv/dwconv.h"
#include "simd/dwconv/dwconv_simd.h"

namespace cnx {

void dwconv_fwd_avx2(float* dst, const float* src, const float* wei, const float* bias, const DwGeom& g) {
    dw_conv_region<Avx2, false, false>(dst, src, wei, bias, g);
}

void dwconv_bwd_data_avx2(float* d_src, const float* d_dst, const float* wei, const DwGeom& g) {
    dw_conv_region<Avx2, true, true>(d_src, d_dst, wei, nullptr, g);
}

void dwconv_bwd_wei_avx2(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwGeom& g) {
    dw_bwd_wei_region<Avx2>(d_wei, d_bias, d_dst, src, g);
}

void dwconv_sparse_fwd_avx2(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dws_conv<Avx2, false, false>(dst, src, wei, bias, sp);
}

void dwconv_sparse_bwd_data_avx2(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp) {
    dws_conv<Avx2, true, true>(d_src, d_dst, wei, nullptr, sp);
}

void dwconv_sparse_bwd_wei_avx2(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp) {
    dws_bwd_wei<Avx2>(d_wei, d_bias, d_dst, src, sp);
}

void dwconv_pairs_bwd_wei_avx2(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwPairs& pp) {
    dwp_bwd_wei<Avx2>(d_wei, d_bias, d_dst, src, pp);
}

void dwconv_pairs_fwd_avx2(float* dst, const float* src, const float* wei, const float* bias, const DwPairs& pp) {
    dwp_conv<Avx2, false>(dst, src, wei, bias, pp);
}

void dwconv_pairs_bwd_data_avx2(float* d_src, const float* d_dst, const float* wei, const DwPairs& pp) {
    dwp_conv<Avx2, true>(d_src, d_dst, wei, nullptr, pp);
}

}  // namespace cnx
