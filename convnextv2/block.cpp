#include "convnextv2/block.h"

#include "nn/residual.h"

namespace cnx {

void alloc_block_acts(BlockActs& b, Arena& a, int64_t N, int64_t T, int64_t R, int64_t C, Precision precision,
                      const BlockActs* same_stage) {
    auto F = [&](int64_t n) { return a.alloc_floats((size_t)n); };
    auto H = [&](int64_t n) { return reinterpret_cast<bf16*>(a.alloc_floats((size_t)(n + 1) / 2)); };
    const bool half = precision == Precision::kBf16;
    if (half) {
        b.dw16 = H(T * C);
        b.ln16 = H(R * C);
    } else {
        b.dw = F(T * C);
        b.ln = F(R * C);
    }
    b.mean = F(R);
    b.rstd = F(R);
    if (half) {
        b.h16 = H(R * 4 * C);
        b.g16 = H(R * 4 * C);
        b.r16 = H(R * 4 * C);
    } else {
        b.h = F(R * 4 * C);
        b.g = F(R * 4 * C);
        b.r = F(R * 4 * C);
    }
    b.gx = F(N * 4 * C);
    b.nx = F(N * 4 * C);
    if (same_stage) {
        b.y = same_stage->y;
        b.y16 = same_stage->y16;
    } else if (half) {
        b.y16 = H(R * C);
    } else {
        b.y = F(R * C);
    }
    b.drop_scale = F(N);
}

bf16* alloc_block_scratch16(Arena& a, int64_t rows_4c, Precision precision) {
    if (precision != Precision::kBf16) return nullptr;
    return reinterpret_cast<bf16*>(a.alloc_floats((size_t)(rows_4c + 1) / 2));
}

void StageLayers::init(int64_t N, int64_t H, int64_t W, int64_t C, int64_t rows, int64_t rows_per_sample, Precision precision) {
    dw.init(N, H, W, C);
    ln.init(rows, C);
    pw1.init(rows, C, 4 * C, precision);
    pw2.init(rows, 4 * C, C, precision);
    grn.init(N, rows_per_sample, 4 * C);
}

// The block's branch, with dw, ln, h, g, r and y all in fp32 or all in bf16.
template <class Act>
static void branch_forward(StageLayers& L, const BlockActs& b, Act* dw, Act* ln, Act* h, Act* g, Act* r, Act* y, const BlockParams& w,
                           Weights params, const int64_t* off) {
    L.dw.forward(dw, b.x_in, params + w.dw_w, params + w.dw_b);
    L.ln.forward(RowsOf<Act>(ln), b.mean, b.rstd, RowsOf<const Act>(dw, off), params + w.ln_w, params + w.ln_b);
    L.pw1.forward(h, ln, params.gemm(w.pw1_w), params + w.pw1_b);
    L.grn.forward_gelu(r, g, b.gx, b.nx, h, params + w.grn_gamma, params + w.grn_beta);
    L.pw2.forward(y, r, params.gemm(w.pw2_w), params + w.pw2_b);
}

void block_forward(StageLayers& L, const BlockActs& b, const BlockParams& w, Weights params, const BlockShape& s) {
    const int64_t rows = s.rows(), C = s.C;
    const int64_t* off = s.active ? s.active->dense_off.data() : nullptr;
    const float* scale = b.drop_rate > 0.0f ? b.drop_scale : nullptr;
    if (b.ln16) branch_forward(L, b, b.dw16, b.ln16, b.h16, b.g16, b.r16, b.y16, w, params, off);
    else branch_forward(L, b, b.dw, b.ln, b.h, b.g, b.r, b.y, w, params, off);
    auto add = [&](auto* y) {
        if (s.active) {
            residual_forward_rows(b.x_out, b.x_in, y, scale, off, rows, s.active->rows_per_sample, C);
            zero_regions(b.x_out, s.active->masked, s.H, s.W, C);
        } else {
            residual_forward(b.x_out, b.x_in, y, scale, s.N, s.H * s.W * C);
        }
    };
    if (b.y16) add(b.y16);
    else add(b.y);
}

void block_backward(StageLayers& L, const BlockActs& b, const BlockParams& w, Weights params, float* grads,
                    const BlockShape& s, float* dx, const BlockScratch& scratch) {
    const int64_t rows = s.rows(), C = s.C;
    const int64_t* off = s.active ? s.active->dense_off.data() : nullptr;
    const float* scale = b.drop_rate > 0.0f ? b.drop_scale : nullptr;
    float* d_c = scratch.d_c;
    float* d4 = scratch.d_4c;
    // the branch gradient, compact
    const float* dy = dx;
    if (s.active) {
        residual_branch_grad_rows(d_c, dx, scale, off, rows, s.active->rows_per_sample, C);
        dy = d_c;
    } else if (scale) {
        residual_branch_grad(d_c, dx, scale, s.N, s.H * s.W * C);
        dy = d_c;
    }
    const LinearInput r = b.r16 ? LinearInput(b.r16) : LinearInput(b.r), ln = b.ln16 ? LinearInput(b.ln16) : LinearInput(b.ln);
    L.pw2.backward(d4, grads + w.pw2_w, grads + w.pw2_b, dy, r, params.gemm(w.pw2_w), false);
    // d(pwconv1 output): in place in fp32, or in bf16 into its own scratch for pwconv1's products
    LinearInput dh = d4;
    if (scratch.d_4c16) {
        L.grn.backward_gelu(scratch.d_4c16, grads + w.grn_gamma, grads + w.grn_beta, d4, b.g16, b.h16, b.gx, b.nx, params + w.grn_gamma);
        dh = scratch.d_4c16;
    } else {
        L.grn.backward_gelu(d4, grads + w.grn_gamma, grads + w.grn_beta, d4, b.g, b.h, b.gx, b.nx, params + w.grn_gamma);
    }
    L.pw1.backward(d_c, grads + w.pw1_w, grads + w.pw1_b, dh, ln, params.gemm(w.pw1_w), false);
    // LayerNorm backward lands in the dense d(dwconv output): in place when dense, scattered to the
    // visible sites of the zero-initialised dense scratch when masked.
    float* d_dw = s.active ? scratch.d_dw : d_c;
    if (b.dw16)
        L.ln.backward(Rows(d_dw, off), grads + w.ln_w, grads + w.ln_b, d_c, RowsOf<const bf16>(b.dw16, off), b.mean, b.rstd,
                      params + w.ln_w);
    else
        L.ln.backward(Rows(d_dw, off), grads + w.ln_w, grads + w.ln_b, d_c, ConstRows(b.dw, off), b.mean, b.rstd, params + w.ln_w);
    L.dw.backward_weights(grads + w.dw_w, grads + w.dw_b, d_dw, b.x_in);
    L.dw.backward_data(dx, d_dw, params + w.dw_w);
}

}  // namespace cnx
