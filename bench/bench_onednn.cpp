// oneDNN's own primitives on the same shapes as our kernels: the depthwise convolution (NHWC
// activations, weights in its preferred layout) and the matmul of each block's pointwise layers in
// fp32 and with bf16 inputs.
#include <cstring>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench/bench_common.h"
#include "nn/convert.h"
#include "nn/linear.h"

namespace cnx {
namespace bench {
namespace {

void bench_onednn_dwconv(benchmark::State& st, const Shape& s, const std::string& dir) {
    using namespace dnnl;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    engine& eng = dnnl_cpu_engine();
    stream& strm = dnnl_cpu_stream();
    const memory::dims src_d = {s.N, s.C, s.H, s.W}, wei_d = {s.C, 1, 1, 7, 7}, bias_d = {s.C};
    auto src_md = memory::desc(src_d, dt::f32, tag::nhwc), dst_md = memory::desc(src_d, dt::f32, tag::nhwc);
    auto wei_any = memory::desc(wei_d, dt::f32, tag::any), bias_md = memory::desc(bias_d, dt::f32, tag::x);
    convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, src_md, wei_any, bias_md,
                                 dst_md, {1, 1}, {3, 3}, {3, 3});
    convolution_forward::primitive_desc fpd(fd, eng);
    FloatBuffer x = random_buffer(s.tokens() * s.C, 1), y((size_t)(s.tokens() * s.C)), dy = random_buffer(s.tokens() * s.C, 2);
    FloatBuffer w((size_t)(fpd.weights_desc().get_size() / 4 + 16)), b = random_buffer(s.C, 3), dw((size_t)(fpd.weights_desc().get_size() / 4 + 16)),
        db((size_t)s.C);
    memory src(src_md, eng, x.data()), dst(dst_md, eng, y.data()), wei(fpd.weights_desc(), eng, w.data()),
        bias(bias_md, eng, b.data()), ddst(dst_md, eng, dy.data()), dsrc(src_md, eng, y.data()),
        dwei(fpd.weights_desc(), eng, dw.data()), dbias(bias_md, eng, db.data());
    primitive prim;
    std::unordered_map<int, memory> args;
    std::string impl;
    if (dir == "fwd") {
        prim = convolution_forward(fpd);
        args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
        impl = fpd.impl_info_str();
    } else if (dir == "bwd_data") {
        convolution_backward_data::desc bd(algorithm::convolution_direct, src_md, wei_any, dst_md, {1, 1}, {3, 3}, {3, 3});
        convolution_backward_data::primitive_desc bpd(bd, eng, fpd);
        prim = convolution_backward_data(bpd);
        wei = memory(bpd.weights_desc(), eng, w.data());
        args = {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}};
        impl = bpd.impl_info_str();
    } else {
        convolution_backward_weights::desc wd(algorithm::convolution_direct, src_md, wei_any, bias_md, dst_md, {1, 1},
                                              {3, 3}, {3, 3});
        convolution_backward_weights::primitive_desc wpd(wd, eng, fpd);
        prim = convolution_backward_weights(wpd);
        // The weight-gradient layout is the backward primitive's own choice, not the forward's.
        dw = FloatBuffer((size_t)(wpd.diff_weights_desc().get_size() / 4 + 16));
        dwei = memory(wpd.diff_weights_desc(), eng, dw.data());
        args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwei}, {DNNL_ARG_DIFF_BIAS, dbias}};
        impl = wpd.impl_info_str();
    }
    for (auto _ : st) {
        prim.execute(strm, args);
        strm.wait();
    }
    st.SetLabel(impl);
    set_counters(st, 2.0 * dw_pairs(active_set(s, 0.0, 9)) * s.C, 2.0 * 4 * s.tokens() * s.C);
}

// ------------------------------------------------------------------------------------------------
// oneDNN's matmul on a block's pointwise layers (pw1: C -> 4C, pw2: 4C -> C over the stage's tokens),
// with fp32 or bf16 inputs (fp32 accumulation and output), in the three directions a Linear runs:
// forward x W^T, backward-data dy W, backward-weights dy^T x.

void bench_onednn_matmul(benchmark::State& st, const Shape& s, bool expand, bool bf16_inputs, const std::string& dir) {
    using namespace dnnl;
    using dt = memory::data_type;
    const int64_t M = s.tokens(), K = expand ? s.C : 4 * s.C, N = expand ? 4 * s.C : s.C;
    const dt in = bf16_inputs ? dt::bf16 : dt::f32;
    // (rows, inner, cols) of the product and the strides that read each operand as the Linear does
    int64_t a_rows = M, inner = K, b_cols = N;
    memory::dims a_strides = {K, 1}, b_strides = {1, K};  // forward: x [M,K], W^T read from W [N,K]
    if (dir == "bwd_data") inner = N, b_cols = K, a_strides = {N, 1}, b_strides = {K, 1};
    if (dir == "bwd_wei") a_rows = N, inner = M, b_cols = K, a_strides = {1, N}, b_strides = {K, 1};
    const memory::desc a_md({a_rows, inner}, in, a_strides), b_md({inner, b_cols}, in, b_strides),
        c_md({a_rows, b_cols}, dt::f32, memory::dims{b_cols, 1});
    matmul::primitive_desc pd(matmul::desc(a_md, b_md, c_md), dnnl_cpu_engine());
    matmul prim(pd);
    const size_t in_bytes = bf16_inputs ? 2 : 4;
    std::vector<char> a((size_t)(a_rows * inner) * in_bytes), b((size_t)(inner * b_cols) * in_bytes);
    FloatBuffer c((size_t)(a_rows * b_cols));
    FloatBuffer fa = random_buffer(a_rows * inner, 1), fb = random_buffer(inner * b_cols, 2);
    if (bf16_inputs) {
        to_bf16((bf16*)a.data(), fa.data(), a_rows * inner);
        to_bf16((bf16*)b.data(), fb.data(), inner * b_cols);
    } else {
        std::memcpy(a.data(), fa.data(), a.size());
        std::memcpy(b.data(), fb.data(), b.size());
    }
    memory am(a_md, dnnl_cpu_engine(), a.data()), bm(b_md, dnnl_cpu_engine(), b.data()), cm(c_md, dnnl_cpu_engine(), c.data());
    for (auto _ : st) {
        prim.execute(dnnl_cpu_stream(), {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
        dnnl_cpu_stream().wait();
    }
    st.SetLabel(pd.impl_info_str());
    set_counters(st, 2.0 * M * K * N, (double)(a.size() + b.size()) + 4.0 * a_rows * b_cols);
}

}  // namespace

void register_onednn_benchmarks(const std::vector<Shape>& shapes, const Register& reg) {
    for (const Shape& s : shapes)
        for (const char* dir : {"fwd", "bwd_data", "bwd_wei"})
            reg(std::string("onednn_dwconv_") + dir + "/" + s.model + "/" + s.name,
                [s, dir](benchmark::State& st) { bench_onednn_dwconv(st, s, dir); }, false);
    for (const Shape& s : shapes)
        for (const char* dir : {"fwd", "bwd_data", "bwd_wei"})
            for (bool expand : {true, false})
                for (bool bf16_inputs : {false, true})
                    reg(std::string("onednn_matmul_") + (bf16_inputs ? "bf16_" : "f32_") + dir + "/" + s.model + "/" + s.name +
                            (expand ? "_pw1" : "_pw2"),
                        [s, expand, bf16_inputs, dir](benchmark::State& st) { bench_onednn_matmul(st, s, expand, bf16_inputs, dir); },
                        false);
}

}  // namespace bench
}  // namespace cnx
