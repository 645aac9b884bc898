// Scalar reference GRN passes; y and dx may alias x and dy respectively.
#include "simd/grn/grn.h"

namespace cnx {

void grn_sumsq_ref(float* sumsq, const float* x, int64_t rows, int64_t C) {
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        for (int64_t c = 0; c < C; c++) sumsq[c] += xr[c] * xr[c];
    }
}

void grn_apply_ref(float* y, const float* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                   int64_t C) {
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        float* yr = y + r * C;
        for (int64_t c = 0; c < C; c++) yr[c] = gamma[c] * (xr[c] * nx[c]) + beta[c] + xr[c];
    }
}

void grn_bwd_reduce_ref(float* s, float* b, const float* dy, const float* x, int64_t rows, int64_t C) {
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        const float* dyr = dy + r * C;
        for (int64_t c = 0; c < C; c++) {
            s[c] += dyr[c] * xr[c];
            b[c] += dyr[c];
        }
    }
}

void grn_bwd_apply_ref(float* dx, const float* dy, const float* x, const float* nx, const float* gamma,
                       const float* k, int64_t rows, int64_t C) {
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        const float* dyr = dy + r * C;
        float* dxr = dx + r * C;
        for (int64_t c = 0; c < C; c++) dxr[c] = dyr[c] * (1.0f + gamma[c] * nx[c]) + xr[c] * k[c];
    }
}

}  // namespace cnx
