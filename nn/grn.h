// Global Response Normalization over compact token rows: sample n owns rows [n*R, (n+1)*R) of a
// [N*R, C] matrix (R = tokens per sample: H*W dense, or the visible tokens of a masked sample).
// Statistics are per sample over its rows (the dense GRN, and the paper's masked GRN).
//   gx = ||src||_2 over rows, nx = gx / (mean_c gx + 1e-6), dst = gamma * (src * nx) + beta + src
#pragma once

#include <cstdint>

#include "nn/parallel.h"
#include "simd/bf16/bf16.h"

namespace cnx {

constexpr float kGrnEps = 1e-6f;

class Grn {
public:
    void init(int64_t N, int64_t rows_per_sample, int64_t C);
    void set_rows_per_sample(int64_t R);  // <= the planned count

    // y may alias x. Saves gx, nx [N, C] for backward.
    void forward(float* y, float* gx, float* nx, const float* x, const float* gamma, const float* beta);
    // dx written (may alias dy); d_gamma, d_beta accumulated.
    void backward(float* dx, float* d_gamma, float* d_beta, const float* dy, const float* x, const float* gx,
                  const float* nx, const float* gamma);

    // GELU fused in (the block's order): x = gelu(h) is written (saved for backward), y = GRN(x).
    void forward_gelu(float* y, float* x, float* gx, float* nx, const float* h, const float* gamma, const float* beta);
    // The same in bf16 precision: h, x and y in bf16 (statistics and math in fp32, simd/grn/grn.h).
    void forward_gelu(bf16* y, bf16* x, float* gx, float* nx, const bf16* h, const float* gamma, const float* beta);
    // dh = d(GRN(gelu(h)))/dh applied to dy; d_gamma, d_beta accumulated.
    void backward_gelu(float* dh, float* d_gamma, float* d_beta, const float* dy, const float* x, const float* h,
                       const float* gx, const float* nx, const float* gamma);
    // The same with x, h and dh in bf16 (dh, a bf16 GEMM's output gradient, must not alias dy).
    void backward_gelu(bf16* dh, float* d_gamma, float* d_beta, const float* dy, const bf16* x, const bf16* h,
                       const float* gx, const float* nx, const float* gamma);

private:
    int64_t N_ = 0, R_ = 0, max_R_ = 0, C_ = 0;
    GradPartials part_a_, part_b_;  // per thread [N][C] partial sums
    FloatBuffer k_;                 // [N][C] backward coefficient d gx / gx

    // Calls f(n, row_begin, row_end, thread) for each sample segment of each thread's slice of all rows.
    template <class F>
    void for_sample_segments(F&& f);
    // gx holds sum of squares per sample on entry; gx = ||src||, nx = gx / (mean + eps) on return.
    void finish_stats(float* gx, float* nx) const;
    template <class Out, class In, class Kernel>
    // After backward_reduce: the apply pass, d_src written.
    void backward_gelu_as(Kernel kernel, Out* d_src, const float* d_dst, const In* act, const In* src, const float* nx,
                          const float* gamma);
    // forward_gelu up to the statistics: act = gelu(src) written, gx and nx.
    template <class Act, class Kernel>
    void gelu_stats(Kernel kernel, Act* act, float* gx, float* nx, const Act* src);
    // The apply pass of forward: dst = GRN(src) with the statistics nx.
    template <class Out, class In, class Kernel>
    void apply_pass(Kernel apply, Out* dst, const In* src, const float* nx, const float* gamma, const float* beta);
    // The reduction pass of backward: d_gamma, d_beta accumulated, k_ = d gx / gx per sample.
    template <class In, class Kernel>
    void backward_reduce(Kernel kernel, float* d_gamma, float* d_beta, const float* d_dst, const In* src, const float* gx,
                         const float* nx, const float* gamma);
};

}  // namespace cnx
