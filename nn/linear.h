// Linear layer dst[M,N] = src[M,K] wei[N,K]^T + bias[N] on oneDNN's matmul primitive.
//
// Weights keep PyTorch's (out, in) layout: forward reads wei through a transposed memory descriptor,
// backward-data reads it as stored, backward-weights reads d_dst transposed. All primitives are created
// in init() (plan time) for a fixed M; a step only re-points the memory handles and executes.
// Gradients of wei and bias accumulate (+=); the bias gradient is our own deterministic column sum.
// In bf16 precision the products read bf16 copies of their two inputs (rounded to nearest even) and
// accumulate and write fp32; callers pass fp32, or inputs already in bf16.
#pragma once

#include <cstdint>

#include <oneapi/dnnl/dnnl.hpp>

#include "nn/parallel.h"
#include "nn/precision.h"
#include "simd/bf16/bf16.h"

namespace cnx {

dnnl::engine& dnnl_cpu_engine();
dnnl::stream& dnnl_cpu_stream();

// A product's input as the caller holds it: fp32, or (bf16 precision) already in bf16.
struct LinearInput {
    const float* f32 = nullptr;
    const bf16* b16 = nullptr;
    LinearInput(const float* p) : f32(p) {}
    LinearInput(const bf16* p) : b16(p) {}
};

class Linear {
public:
    // Throws cnx::Error when oneDNN has no bf16 matmul for this CPU (it needs AVX-512).
    void init(int64_t M, int64_t K, int64_t N, Precision precision = Precision::kFp32);
    int64_t rows() const { return M_; }
    int64_t in_features() const { return K_; }
    int64_t out_features() const { return N_; }

    // dst = src wei^T + bias  (bias may be null).
    void forward(float* dst, LinearInput src, LinearInput wei, const float* bias);
    // The same with dst in bf16, rounded to nearest even from the fp32 sum (bf16 precision, with a bias).
    void forward(bf16* dst, LinearInput src, LinearInput wei, const float* bias);
    // d_wei += d_dst^T src and d_bias += column sums of d_dst (d_bias may be null); then d_src = d_dst wei
    // (d_src += when accumulate; d_src null: not wanted). In bf16 precision an fp32 d_dst is rounded
    // once for both products.
    void backward(float* d_src, float* d_wei, float* d_bias, LinearInput d_dst, LinearInput src, LinearInput wei,
                  bool accumulate);

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
        void run(const void* src, const void* wei, const float* bias, void* dst);
    };
    // The operand a product reads: `x` itself (fp32 precision, or already bf16), or its bf16 copy in
    // scratch slot `slot`.
    const void* operand(LinearInput x, int64_t n, int slot) const;
    template <class T>
    void sum_columns(float* d_bias, const T* d_dst);
    int64_t M_ = 0, K_ = 0, N_ = 0;
    Precision precision_ = Precision::kFp32;
    Gemm fwd_, fwd_nobias_, fwd16_, bwd_data_, bwd_data_acc_, bwd_wei_;
    GradPartials bias_partials_;
};

}  // namespace cnx
