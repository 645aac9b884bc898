#include "simd/grn/grn.h"
#include "simd/grn/grn_simd.h"

namespace cnx {

void grn_sumsq_avx2(float* sumsq, const float* x, int64_t rows, int64_t C) { grn_sumsq_simd<Avx2>(sumsq, x, rows, C); }

void grn_apply_avx2(float* y, const float* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                    int64_t C) {
    grn_apply_simd<Avx2>(y, x, nx, gamma, beta, rows, C);
}

void grn_bwd_reduce_avx2(float* s, float* b, const float* dy, const float* x, int64_t rows, int64_t C) {
    grn_bwd_reduce_simd<Avx2>(s, b, dy, x, rows, C);
}

void grn_bwd_apply_avx2(float* dx, const float* dy, const float* x, const float* nx, const float* gamma,
                        const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_simd<Avx2>(dx, dy, x, nx, gamma, k, rows, C);
}

void grn_gelu_sumsq_avx2(float* x, float* sumsq, const float* h, int64_t rows, int64_t C) {
    grn_gelu_sumsq_simd<Avx2>(x, sumsq, h, rows, C);
}

void grn_bwd_apply_gelu_avx2(float* dh, const float* dy, const float* x, const float* h, const float* nx,
                          const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_gelu_simd<Avx2>(dh, dy, x, h, nx, gamma, k, rows, C);
}

}  // namespace cnx
