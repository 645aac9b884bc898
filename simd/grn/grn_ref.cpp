// Scalar reference GRN passes; y and dx may alias x and dy respectively. The fused passes use the
// reference GELU (double precision).
#include <cmath>

#include "simd/kernels.h"

namespace cnx {

void grn_sumsq_ref(float* sumsq, const float* x, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        for (int64_t c = 0; c < C; c++) sumsq[c] += xr[c] * xr[c];
    }
}

template <class Out, class In>
static void grn_apply_ref_as(Out* y, const In* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                             int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const In* xr = x + r * C;
        Out* yr = y + r * C;
        for (int64_t c = 0; c < C; c++) {
            const float v = load_in(xr + c);
            store_out(yr + c, gamma[c] * (v * nx[c]) + beta[c] + v);
        }
    }
}

void grn_apply_ref(float* y, const float* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                   int64_t C) {
    grn_apply_ref_as(y, x, nx, gamma, beta, rows, C);
}

void grn_apply_bf16_ref(bf16* y, const bf16* x, const float* nx, const float* gamma, const float* beta, int64_t rows,
                        int64_t C) {
    grn_apply_ref_as(y, x, nx, gamma, beta, rows, C);
}

template <class In>
static void grn_bwd_reduce_ref_as(float* s, float* b, const float* dy, const In* x, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const In* xr = x + r * C;
        const float* dyr = dy + r * C;
        for (int64_t c = 0; c < C; c++) {
            s[c] += dyr[c] * load_in(xr + c);
            b[c] += dyr[c];
        }
    }
}

void grn_bwd_reduce_ref(float* s, float* b, const float* dy, const float* x, int64_t rows, int64_t C) {
    grn_bwd_reduce_ref_as(s, b, dy, x, rows, C);
}

void grn_bwd_reduce_bf16_ref(float* s, float* b, const float* dy, const bf16* x, int64_t rows, int64_t C) {
    grn_bwd_reduce_ref_as(s, b, dy, x, rows, C);
}

void grn_bwd_apply_ref(float* dx, const float* dy, const float* x, const float* nx, const float* gamma,
                       const float* k, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C;
        const float* dyr = dy + r * C;
        float* dxr = dx + r * C;
        for (int64_t c = 0; c < C; c++) dxr[c] = dyr[c] * (1.0f + gamma[c] * nx[c]) + xr[c] * k[c];
    }
}

void grn_gelu_sumsq_ref(float* x, float* sumsq, const float* h, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    gelu_fwd_ref(x, h, rows * C);
    grn_sumsq_ref(sumsq, x, rows, C);
}

void grn_gelu_sumsq_bf16_ref(bf16* x, float* sumsq, const bf16* h, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < C; c++) {
            const int64_t i = r * C + c;
            float g;
            const float v = float_from_bf16(h[i]);
            gelu_fwd_ref(&g, &v, 1);
            x[i] = bf16_from_float(g);
            const float kept = float_from_bf16(x[i]);
            sumsq[c] += kept * kept;
        }
    }
}

template <class Out, class In>
static void grn_bwd_apply_gelu_ref_as(Out* dh, const float* dy, const In* x, const In* h, const float* nx,
                                      const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_dcheck(rows, C);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < C; c++) {
            const int64_t i = r * C + c;
            const double v = load_in(h + i);
            const double d = 0.5 * std::erfc(-v * M_SQRT1_2) + v * std::exp(-0.5 * v * v) * 0.39894228040143268;
            const float dx = dy[i] * (1.0f + gamma[c] * nx[c]) + load_in(x + i) * k[c];
            store_out(dh + i, (float)((double)dx * d));
        }
    }
}

void grn_bwd_apply_gelu_ref(float* dh, const float* dy, const float* x, const float* h, const float* nx,
                            const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_gelu_ref_as(dh, dy, x, h, nx, gamma, k, rows, C);
}

void grn_bwd_apply_gelu_bf16_ref(bf16* dh, const float* dy, const bf16* x, const bf16* h, const float* nx,
                                 const float* gamma, const float* k, int64_t rows, int64_t C) {
    grn_bwd_apply_gelu_ref_as(dh, dy, x, h, nx, gamma, k, rows, C);
}

}  // namespace cnx
