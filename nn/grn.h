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
    // The same with y in bf16 (a bf16 GEMM's input).
    void forward_gelu(bf16* y, float* x, float* gx, float* nx, const float* h, const float* gamma, const float* beta);
    // dh = d(GRN(gelu(h)))/dh applied to dy; d_gamma, d_beta accumulated.
    void backward_gelu(float* dh, float* d_gamma, float* d_beta, const float* dy, const float* x, const float* h,
                       const float* gx, const float* nx, const float* gamma);
    // The same with dh in bf16 (a bf16 GEMM's output gradient; dh must not alias dy).
    void backward_gelu(bf16* dh, float* d_gamma, float* d_beta, const float* dy, const float* x, const float* h,
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
    template <class Out, class Kernel>
    void backward_gelu_as(Kernel kernel, Out* d_src, float* d_gamma, float* d_beta, const float* d_dst, const float* act,
                          const float* src, const float* gx, const float* nx, const float* gamma);
    // forward_gelu up to the statistics: act = gelu(src) written, gx and nx.
    void gelu_stats(float* act, float* gx, float* nx, const float* src);
    template <class Out, class Kernel>
    void forward_gelu_as(Kernel apply, Out* dst, float* act, float* gx, float* nx, const float* src, const float* gamma,
                         const float* beta);
    // The reduction pass of backward: d_gamma, d_beta accumulated, k_ = d gx / gx per sample.
    void backward_reduce(float* d_gamma, float* d_beta, const float* d_dst, const float* src, const float* gx,
                         const float* nx, const float* gamma);
};

}  // namespace cnx
