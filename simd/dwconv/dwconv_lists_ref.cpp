// Scalar reference depthwise 7x7 over neighbour lists: per site, its entries in order.
#include "simd/kernels.h"

namespace cnx {

template <class Out>
static void dwconv_sparse_fwd_ref_as(Out* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dw_dcheck(sp);
    const int64_t C = sp.C;
    for (int64_t s = sp.s0; s < sp.s1; s++) {
        Out* out = dst + (int64_t)sp.site[s] * C;
        for (int64_t c = 0; c < C; c++) {
            float acc = bias[c];
            for (int32_t e = sp.begin[s]; e < sp.begin[s + 1]; e++)
                acc += wei[(int64_t)sp.tap[e] * C + c] * src[(int64_t)sp.nbr[e] * C + c];
            store_out(out + c, acc);
        }
    }
}

void dwconv_sparse_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dwconv_sparse_fwd_ref_as(dst, src, wei, bias, sp);
}

void dwconv_sparse_fwd_bf16_ref(bf16* dst, const float* src, const float* wei, const float* bias, const DwSparse& sp) {
    dwconv_sparse_fwd_ref_as(dst, src, wei, bias, sp);
}

void dwconv_sparse_bwd_data_ref(float* d_src, const float* d_dst, const float* wei, const DwSparse& sp) {
    dw_dcheck(sp);
    const int64_t C = sp.C;
    for (int64_t s = sp.s0; s < sp.s1; s++) {
        float* out = d_src + (int64_t)sp.site[s] * C;
        for (int32_t e = sp.begin[s]; e < sp.begin[s + 1]; e++) {
            const float* gr = d_dst + (int64_t)sp.nbr[e] * C;
            const float* k = wei + (int64_t)(kDwTaps - 1 - sp.tap[e]) * C;
            for (int64_t c = 0; c < C; c++) out[c] += k[c] * gr[c];
        }
    }
}

void dwconv_sparse_bwd_wei_ref(float* d_wei, float* d_bias, const float* d_dst, const float* src, const DwSparse& sp) {
    dw_dcheck(sp);
    const int64_t C = sp.C;
    for (int64_t s = sp.s0; s < sp.s1; s++) {
        const float* gr = d_dst + (int64_t)sp.site[s] * C;
        for (int64_t c = 0; c < C; c++) d_bias[c] += gr[c];
        for (int32_t e = sp.begin[s]; e < sp.begin[s + 1]; e++) {
            const float* in = src + (int64_t)sp.nbr[e] * C;
            float* k = d_wei + (int64_t)sp.tap[e] * C;
            for (int64_t c = 0; c < C; c++) k[c] += gr[c] * in[c];
        }
    }
}

}  // namespace cnx
