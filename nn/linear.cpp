#include "nn/linear.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "nn/convert.h"

namespace cnx {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

dnnl::engine& dnnl_cpu_engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream& dnnl_cpu_stream() {
    static dnnl::stream s(dnnl_cpu_engine());
    return s;
}

// One scratchpad for every matmul (primitives run one at a time), grown at plan time: with
// oneDNN's library-managed scratchpad, large temporary buffers were allocated and page-faulted
// in on every execution (19% of an atto training step in perf).
static FloatBuffer& shared_scratchpad() {
    static FloatBuffer buf;
    return buf;
}

// bf16 copies of a product's inputs, shared by every Linear (layers run one at a time), grown at plan
// time: slot 0 the first operand of a product, slot 1 the second.
static std::vector<bf16>& shared_bf16(int slot) {
    static std::vector<bf16> buf[2];
    return buf[slot];
}

static dnnl::memory::desc md(dims d, dims strides, dt type = dt::f32) { return dnnl::memory::desc(d, type, strides); }

void Linear::Gemm::create(const dnnl::memory::desc& src, const dnnl::memory::desc& wei,
                          const dnnl::memory::desc* bias, const dnnl::memory::desc& dst, bool accumulate) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (accumulate) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
    }
    dnnl::matmul::desc d = bias ? dnnl::matmul::desc(src, wei, *bias, dst) : dnnl::matmul::desc(src, wei, dst);
    pd = dnnl::matmul::primitive_desc(d, attr, dnnl_cpu_engine());
    prim = dnnl::matmul(pd);
    size_t bytes = pd.scratchpad_desc().get_size();
    FloatBuffer& buf = shared_scratchpad();
    if (bytes > buf.size() * sizeof(float)) buf.resize((bytes + sizeof(float) - 1) / sizeof(float));
    scratch = dnnl::memory(pd.scratchpad_desc(), dnnl_cpu_engine(), DNNL_MEMORY_NONE);
    this->src = dnnl::memory(src, dnnl_cpu_engine(), DNNL_MEMORY_NONE);
    this->wei = dnnl::memory(wei, dnnl_cpu_engine(), DNNL_MEMORY_NONE);
    this->dst = dnnl::memory(dst, dnnl_cpu_engine(), DNNL_MEMORY_NONE);
    if (bias) this->bias = dnnl::memory(*bias, dnnl_cpu_engine(), DNNL_MEMORY_NONE);
}

void Linear::Gemm::run(const void* s, const void* w, const float* b, void* d) {
    src.set_data_handle(const_cast<void*>(s));
    wei.set_data_handle(const_cast<void*>(w));
    dst.set_data_handle(d);
    scratch.set_data_handle(shared_scratchpad().data());
    if (b) {
        bias.set_data_handle(const_cast<float*>(b));
        prim.execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_WEIGHTS, wei},
                                         {DNNL_ARG_BIAS, bias},
                                         {DNNL_ARG_DST, dst},
                                         {DNNL_ARG_SCRATCHPAD, scratch}});
    } else {
        prim.execute(dnnl_cpu_stream(),
                     {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}});
    }
    dnnl_cpu_stream().wait();
}

void Linear::init(int64_t M, int64_t K, int64_t N, Precision precision) {
    CNX_CHECK(K > 0 && N > 0 && M >= 0, "bad Linear shape");
    M_ = M;
    K_ = K;
    N_ = N;
    precision_ = precision;
    bias_partials_.init(N);
    if (M == 0) return;
    const dt in = precision == Precision::kBf16 ? dt::bf16 : dt::f32;
    if (precision == Precision::kBf16) {
        const size_t need = (size_t)std::max({M * K, M * N, N * K});
        for (int slot : {0, 1})
            if (shared_bf16(slot).size() < need) shared_bf16(slot).resize(need);
    }
    try {
        // forward: x [M,K] times W^T [K,N] (W stored [N,K]) + b -> y [M,N]
        const auto x = md({M, K}, {K, 1}, in), wT = md({K, N}, {1, K}, in), b = md({1, N}, {N, 1}), y = md({M, N}, {N, 1});
        fwd_.create(x, wT, &b, y, false);
        fwd_nobias_.create(x, wT, nullptr, y, false);
        if (precision == Precision::kBf16) fwd16_.create(x, wT, &b, md({M, N}, {N, 1}, dt::bf16), false);
        // backward data: dy [M,N] times W [N,K] -> dx [M,K]
        const auto dy = md({M, N}, {N, 1}, in), w = md({N, K}, {K, 1}, in), dx = md({M, K}, {K, 1});
        bwd_data_.create(dy, w, nullptr, dx, false);
        bwd_data_acc_.create(dy, w, nullptr, dx, true);
        // backward weights: dy^T [N,M] times x [M,K] -> dW [N,K], accumulated by the sum post-op
        bwd_wei_.create(md({N, M}, {1, N}, in), x, nullptr, md({N, K}, {K, 1}), true);
    } catch (const dnnl::error& e) {
        if (precision == Precision::kFp32) throw;
        fail("--precision bf16: oneDNN has no bf16 matmul on this CPU (it needs AVX-512): %s", e.what());
    }
}

const void* Linear::operand(LinearInput x, int64_t n, int slot) const {
    if (x.b16) {
        CNX_CHECK(precision_ == Precision::kBf16, "a bf16 input needs bf16 precision");
        return x.b16;
    }
    if (precision_ == Precision::kFp32) return x.f32;
    bf16* copy = shared_bf16(slot).data();
    to_bf16(copy, x.f32, n);
    return copy;
}

const char* Linear::forward_impl() const { return M_ ? fwd_.pd.impl_info_str() : "none"; }

void Linear::forward(float* dst, LinearInput src, LinearInput wei, const float* bias) {
    if (M_ == 0) return;
    const void* s = operand(src, M_ * K_, 0);
    (bias ? fwd_ : fwd_nobias_).run(s, operand(wei, N_ * K_, 1), bias, dst);
}

void Linear::forward(bf16* dst, LinearInput src, LinearInput wei, const float* bias) {
    CNX_CHECK(precision_ == Precision::kBf16 && bias, "a bf16 output needs bf16 precision and a bias");
    if (M_ == 0) return;
    const void* s = operand(src, M_ * K_, 0);
    fwd16_.run(s, operand(wei, N_ * K_, 1), bias, dst);
}

void Linear::backward(float* d_src, float* d_wei, float* d_bias, LinearInput d_dst, LinearInput src, LinearInput wei,
                      bool accumulate) {
    if (M_ == 0) return;
    const void* dy = operand(d_dst, M_ * N_, 0);
    bwd_wei_.run(dy, operand(src, M_ * K_, 1), nullptr, d_wei);
    // slot 1 is free again once the weight gradient is done
    if (d_src) (accumulate ? bwd_data_acc_ : bwd_data_).run(dy, operand(wei, N_ * K_, 1), nullptr, d_src);
    if (!d_bias) return;
    if (d_dst.b16) sum_columns(d_bias, d_dst.b16);
    else sum_columns(d_bias, d_dst.f32);
}

static float widen(float v) { return v; }
static float widen(bf16 v) { return float_from_bf16(v); }

// d_bias += the column sums of d_dst [M, N], deterministic per-thread partials.
template <class T>
void Linear::sum_columns(float* d_bias, const T* d_dst) {
    bias_partials_.clear();
    const int64_t N = N_;
    parallel_for(M_, [&](int64_t b, int64_t e, int t) {
        float* acc = bias_partials_.slice(t);
        for (int64_t r = b; r < e; r++) {
            const T* row = d_dst + r * N;
            for (int64_t c = 0; c < N; c++) acc[c] += widen(row[c]);
        }
    });
    bias_partials_.reduce_into(d_bias);
}

}  // namespace cnx
