#include "nn/grn.h"

#include <cmath>

#include "core/check.h"
#include "simd/kernels.h"

namespace cnx {

void Grn::init(int64_t N, int64_t rows_per_sample, int64_t C) {
    N_ = N;
    R_ = max_R_ = rows_per_sample;
    C_ = C;
    part_a_.init(N * C);
    part_b_.init(N * C);
    k_.resize((size_t)(N * C));
}

void Grn::set_rows_per_sample(int64_t R) {
    CNX_CHECK(R <= max_R_, "more rows than planned");
    R_ = R;
}

template <class F>
void Grn::for_sample_segments(F&& f) {
    const int64_t R = R_;
    parallel_for(N_ * R, [&](int64_t b, int64_t e, int t) {
        while (b < e) {
            int64_t n = b / R;
            int64_t seg_end = std::min(e, (n + 1) * R);
            f(n, b, seg_end, t);
            b = seg_end;
        }
    });
}

void Grn::finish_stats(float* gx, float* nx) const {
    const int64_t C = C_;
    for (int64_t n = 0; n < N_; n++) {
        float* g = gx + n * C;
        float mean = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            g[c] = std::sqrt(g[c]);
            mean += g[c];
        }
        mean /= (float)C;
        for (int64_t c = 0; c < C; c++) nx[n * C + c] = g[c] / (mean + kGrnEps);
    }
}

void Grn::forward(float* dst, float* gx, float* nx, const float* src, const float* gamma, const float* beta) {
    const Kernels& k = kernels();
    const int64_t C = C_;
    part_a_.clear();
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int t) {
        k.grn_sumsq(part_a_.slice(t) + n * C, src + b * C, e - b, C);
    });
    for (int64_t i = 0; i < N_ * C; i++) gx[i] = 0.0f;
    part_a_.reduce_into(gx);
    finish_stats(gx, nx);
    apply_pass(k.grn_apply, dst, src, nx, gamma, beta);
}

template <class Act, class Kernel>
void Grn::gelu_stats(Kernel kernel, Act* act, float* gx, float* nx, const Act* src) {
    const int64_t C = C_;
    part_a_.clear();
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int t) {
        kernel(act + b * C, part_a_.slice(t) + n * C, src + b * C, e - b, C);
    });
    for (int64_t i = 0; i < N_ * C; i++) gx[i] = 0.0f;
    part_a_.reduce_into(gx);
    finish_stats(gx, nx);
}

template <class Out, class In, class Kernel>
void Grn::apply_pass(Kernel apply, Out* dst, const In* src, const float* nx, const float* gamma, const float* beta) {
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int) {
        apply(dst + b * C_, src + b * C_, nx + n * C_, gamma, beta, e - b, C_);
    });
}

void Grn::forward_gelu(float* dst, float* act, float* gx, float* nx, const float* src, const float* gamma, const float* beta) {
    gelu_stats(kernels().grn_gelu_sumsq, act, gx, nx, src);
    apply_pass(kernels().grn_apply, dst, act, nx, gamma, beta);
}

void Grn::forward_gelu(bf16* dst, bf16* act, float* gx, float* nx, const bf16* src, const float* gamma, const float* beta) {
    gelu_stats(kernels().grn_gelu_sumsq_bf16, act, gx, nx, src);
    apply_pass(kernels().grn_apply_bf16, dst, act, nx, gamma, beta);
}

template <class In, class Kernel>
void Grn::backward_reduce(Kernel kernel, float* d_gamma, float* d_beta, const float* d_dst, const In* src, const float* gx,
                          const float* nx, const float* gamma) {
    const int64_t C = C_;
    part_a_.clear();
    part_b_.clear();
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int t) {
        kernel(part_a_.slice(t) + n * C, part_b_.slice(t) + n * C, d_dst + b * C, src + b * C, e - b, C);
    });
    // k_ temporarily holds S = sum d_dst*src per sample; the bias gradient is sum d_dst over every row.
    float* S = k_.data();
    for (int64_t i = 0; i < N_ * C; i++) S[i] = 0.0f;
    part_a_.reduce_into(S);
    for (int64_t n = 0; n < N_; n++) part_b_.reduce_into(d_beta, n * C, C);
    for (int64_t n = 0; n < N_; n++) {
        const float* g = gx + n * C;
        float* s = S + n * C;
        float mean = 0.0f;
        for (int64_t c = 0; c < C; c++) mean += g[c];
        mean /= (float)C;
        const float denom = mean + kGrnEps;
        // d_nx = gamma * S;  d_gx[c] = d_nx[c]/denom - (1/C) sum_c' d_nx[c'] gx[c'] / denom^2
        float dot = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            d_gamma[c] += nx[n * C + c] * s[c];
            dot += gamma[c] * s[c] * g[c];
        }
        const float shared = dot / ((float)C * denom * denom);
        for (int64_t c = 0; c < C; c++) {
            const float d_gx = gamma[c] * s[c] / denom - shared;
            s[c] = g[c] > 0.0f ? d_gx / g[c] : 0.0f;  // the norm's gradient src/gx is 0 where gx = 0
        }
    }
}

void Grn::backward(float* d_src, float* d_gamma, float* d_beta, const float* d_dst, const float* src, const float* gx,
                   const float* nx, const float* gamma) {
    const Kernels& k = kernels();
    const int64_t C = C_;
    backward_reduce(k.grn_bwd_reduce, d_gamma, d_beta, d_dst, src, gx, nx, gamma);
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int) {
        k.grn_bwd_apply(d_src + b * C, d_dst + b * C, src + b * C, nx + n * C, gamma, k_.data() + n * C, e - b, C);
    });
}

template <class Out, class In, class Kernel>
void Grn::backward_gelu_as(Kernel kernel, Out* d_src, const float* d_dst, const In* act, const In* src, const float* nx,
                           const float* gamma) {
    const int64_t C = C_;
    for_sample_segments([&](int64_t n, int64_t b, int64_t e, int) {
        kernel(d_src + b * C, d_dst + b * C, act + b * C, src + b * C, nx + n * C, gamma, k_.data() + n * C, e - b, C);
    });
}

void Grn::backward_gelu(float* d_src, float* d_gamma, float* d_beta, const float* d_dst, const float* act,
                        const float* src, const float* gx, const float* nx, const float* gamma) {
    backward_reduce(kernels().grn_bwd_reduce, d_gamma, d_beta, d_dst, act, gx, nx, gamma);
    backward_gelu_as(kernels().grn_bwd_apply_gelu, d_src, d_dst, act, src, nx, gamma);
}

void Grn::backward_gelu(bf16* d_src, float* d_gamma, float* d_beta, const float* d_dst, const bf16* act,
                        const bf16* src, const float* gx, const float* nx, const float* gamma) {
    backward_reduce(kernels().grn_bwd_reduce_bf16, d_gamma, d_beta, d_dst, act, gx, nx, gamma);
    backward_gelu_as(kernels().grn_bwd_apply_gelu_bf16, d_src, d_dst, act, src, nx, gamma);
}

}  // namespace cnx
