// Linear layer y[M,N] = x[M,K] W[N,K]^T + b[N] on oneDNN's matmul primitive.
//
// Weights keep PyTorch's (out, in) layout: forward reads W through a transposed memory descriptor,
// backward-data reads it as stored, backward-weights reads dy transposed. All primitives are created
// in init() (plan time) for a fixed M; a step only re-points the memory handles and executes.
// Gradients of W and b accumulate (+=); the bias gradient is our own deterministic column sum.
#pragma once

#include <cstdint>

#include <oneapi/dnnl/dnnl.hpp>

#include "nn/parallel.h"

namespace cnx {

dnnl::engine& dnnl_cpu_engine();
dnnl::stream& dnnl_cpu_stream();

class Linear {
public:
    void init(int64_t M, int64_t K, int64_t N);
    int64_t rows() const { return M_; }
    int64_t in_features() const { return K_; }
    int64_t out_features() const { return N_; }

    // y = x W^T + b  (b may be null).
    void forward(float* y, const float* x, const float* W, const float* b);
    // dx = dy W  (or dx += dy W when accumulate).
    void backward_data(float* dx, const float* dy, const float* W, bool accumulate);
    // dW += dy^T x;  db += column sums of dy (db may be null).
    void backward_weights(float* dW, float* db, const float* dy, const float* x);

    // Name of the oneDNN implementation chosen for the forward (for --verbose logs).
    const char* forward_impl() const;

private:
    // One matmul primitive with its memory objects (handles re-pointed at each run).
    struct Gemm {
        dnnl::matmul::primitive_desc pd;
        dnnl::matmul prim;
        dnnl::memory src, wei, bias, dst, scratch;
        void create(const dnnl::memory::desc& src, const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                    const dnnl::memory::desc& dst, bool accumulate);
        void run(const float* src, const float* wei, const float* bias, float* dst);
    };
    int64_t M_ = 0, K_ = 0, N_ = 0;
    Gemm fwd_, fwd_nobias_, bwd_data_, bwd_data_acc_, bwd_wei_;
    GradPartials db_partials_;
};

}  // namespace cnx
