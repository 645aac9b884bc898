#include <cmath>

#include "simd/layernorm/layernorm.h"
#include "simd/layernorm/layernorm_simd.h"

namespace cnx {

void layernorm_fwd_avx512(float* dst, const int64_t* dst_off, float* mean, float* rstd, const float* src,
                        const int64_t* src_off, const float* gamma, const float* beta, int64_t rows, int64_t C,
                        float eps) {
    layernorm_fwd_simd<Avx512>(dst, dst_off, mean, rstd, src, src_off, gamma, beta, rows, C, eps);
}

void layernorm_bwd_avx512(float* d_src, const int64_t* d_src_off, float* d_gamma, float* d_beta, const float* d_dst,
                        const int64_t* d_dst_off, const float* src, const int64_t* src_off, const float* mean,
                        const float* rstd, const float* gamma, int64_t rows, int64_t C) {
    layernorm_bwd_simd<Avx512>(d_src, d_src_off, d_gamma, d_beta, d_dst, d_dst_off, src, src_off, mean, rstd, gamma, rows, C);
}

}  // namespace cnx
