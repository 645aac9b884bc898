// build/bench_kernels: Google Benchmark over every kernel family x ISA variant of simd/kernels.inc,
// on the real layer shapes of ConvNeXt V2 atto and femto at batch 32, 224x224 (bench/shapes/*.txt),
// run as the training step runs them (nn layers, all threads). Beside them, oneDNN's depthwise
// convolution on the same shapes, and the masked depthwise at mask ratio 0.6 vs 0.
//
// Counters (per second): FLOPS, and bytes = the bytes each kernel must move at least (every input
// read once, every output written once). Each benchmark first checks its variant against the
// scalar reference on one image and refuses to time a wrong kernel.
//
//   make bench                     (or build/bench_kernels --benchmark_filter=dwconv)
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <oneapi/dnnl/dnnl.hpp>

#include "convnextv2/mask.h"
#include "core/arena.h"
#include "core/check.h"
#include "core/rng.h"
#include "nn/convert.h"
#include "nn/dwconv.h"
#include "nn/gelu.h"
#include "nn/grn.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "simd/kernels.h"

using namespace cnx;

namespace {

struct Shape {
    std::string model, name;
    int64_t N, H, W, C, tile;
    int64_t tokens() const { return N * H * W; }
};

std::vector<Shape> load_shapes() {
    std::vector<Shape> out;
    for (const char* model : {"atto", "femto"}) {
        std::string path = std::string("bench/shapes/convnextv2_") + model + ".txt";
        std::ifstream f(path);
        if (!f) fail("%s: shapes file not found (run from the project root)", path.c_str());
        std::string line;
        while (std::getline(f, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream s(line);
            Shape sh;
            sh.model = model;
            if (!(s >> sh.name >> sh.N >> sh.H >> sh.W >> sh.C >> sh.tile)) fail("%s: bad line '%s'", path.c_str(), line.c_str());
            out.push_back(sh);
        }
    }
    return out;
}

FloatBuffer random_buffer(int64_t n, uint64_t seed) {
    FloatBuffer b((size_t)n);
    Rng r(stream_key(seed, 31));
    for (int64_t i = 0; i < n; i++) b[(size_t)i] = r.uniform() * 2.0f - 1.0f;
    return b;
}

void set_counters(benchmark::State& st, double flops, double bytes) {
    st.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["bytes"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

// Max relative difference of two runs (variant vs reference), for the pre-timing check.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0, scale = 1e-6;
    for (float x : b) scale = std::max(scale, (double)std::fabs(x));
    for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs((double)a[i] - b[i]) / scale);
    return m;
}

// Runs `op` (which writes its result into `out`) under `isa` and under the reference; true if equal
// to within tol relative to the output's largest magnitude.
bool agrees_with_ref(Isa isa, const std::function<void(std::vector<float>&)>& op, double tol, std::string* why) {
    std::vector<float> a, b;
    select_isa(isa);
    op(a);
    select_isa(Isa::REF);
    op(b);
    select_isa(isa);
    double d = max_rel_diff(a, b);
    if (d > tol) {
        *why = strfmt("differs from the reference by %.3g", d);
        return false;
    }
    return true;
}

// The active set of random FCMAE masks at this stage (keep floor(L * (1 - ratio)) patches): the
// depthwise work list, or neighbour lists for tiny tiles, as the masked encoder uses them.
ActiveSet active_set(const Shape& s, double ratio, uint64_t seed) {
    const int64_t grid = s.H / s.tile, L = grid * grid;
    std::vector<uint8_t> mask((size_t)(s.N * L));
    make_mask(mask.data(), s.N, L, ratio, seed);
    ActiveSet as;
    as.build(mask.data(), s.N, grid, s.tile, s.C);
    return as;
}

// The multiply-adds a depthwise 7x7 must do per channel over an active set: (output, input) pairs of
// visible tokens within reach and inside the image (zero padding and masked sites contribute none).
int64_t dw_pairs(const ActiveSet& as) {
    std::vector<uint8_t> visible((size_t)(as.N * as.H * as.W), 0);
    for (int64_t t : as.token) visible[(size_t)t] = 1;
    int64_t pairs = 0;
    for (int64_t t : as.token) {
        const int64_t n = t / (as.H * as.W), h = (t / as.W) % as.H, w = t % as.W;
        for (int64_t hh = std::max<int64_t>(0, h - kDwPad); hh <= std::min(as.H - 1, h + kDwPad); hh++)
            for (int64_t ww = std::max<int64_t>(0, w - kDwPad); ww <= std::min(as.W - 1, w + kDwPad); ww++)
                pairs += visible[(size_t)((n * as.H + hh) * as.W + ww)];
    }
    return pairs;
}

// ------------------------------------------------------------------------------------------------
// our kernels

void bench_dwconv(benchmark::State& st, const KernelRow& row, const Shape& s, double mask_ratio) {
    const std::string fam = row.family;
    std::string why;
    DwConv one;
    one.init(1, s.H, s.W, s.C);
    FloatBuffer x1 = random_buffer(s.H * s.W * s.C, 1), w = random_buffer(49 * s.C, 2), b = random_buffer(s.C, 3);
    FloatBuffer g1 = random_buffer(s.H * s.W * s.C, 4);
    auto check = [&](std::vector<float>& out) {
        FloatBuffer y((size_t)(s.H * s.W * s.C)), dw((size_t)(49 * s.C)), db((size_t)s.C);
        if (fam == "dwconv_fwd") one.forward(y.data(), x1.data(), w.data(), b.data());
        if (fam == "dwconv_bwd_data") one.backward_data(y.data(), g1.data(), w.data());
        if (fam == "dwconv_bwd_wei") {
            one.backward_weights(dw.data(), db.data(), g1.data(), x1.data());
            out.assign(dw.data(), dw.data() + dw.size());
            return;
        }
        out.assign(y.data(), y.data() + y.size());
    };
    if (!agrees_with_ref(row.isa, check, 1e-4, &why)) return st.SkipWithError(why.c_str());

    DwConv dw;
    dw.init(s.N, s.H, s.W, s.C);
    const ActiveSet as = active_set(s, mask_ratio, 9);
    if (mask_ratio > 0) as.plan_depthwise(dw);
    const int64_t visible = as.rows;  // every token at ratio 0
    const int64_t n = s.tokens() * s.C;
    FloatBuffer x = random_buffer(n, 5), y((size_t)n), gw((size_t)(49 * s.C)), gb((size_t)s.C);
    auto run = [&](DwConv& layer) {
        if (fam == "dwconv_fwd") layer.forward(y.data(), x.data(), w.data(), b.data());
        if (fam == "dwconv_bwd_data") layer.backward_data(y.data(), x.data(), w.data());
        if (fam == "dwconv_bwd_wei") layer.backward_weights(gw.data(), gb.data(), y.data(), x.data());
        benchmark::ClobberMemory();
    };
    if (mask_ratio > 0) {
        // Masked rows time the masked call (manual time) and, alternating with it on the same
        // buffers, the dense one: vs_dense = masked / dense under the same cache and machine state.
        DwConv dense;
        dense.init(s.N, s.H, s.W, s.C);
        double masked_s = 0, dense_s = 0;
        for (auto _ : st) {
            const auto t0 = std::chrono::steady_clock::now();
            run(dw);
            const auto t1 = std::chrono::steady_clock::now();
            run(dense);
            const auto t2 = std::chrono::steady_clock::now();
            const double tm = std::chrono::duration<double>(t1 - t0).count();
            st.SetIterationTime(tm);
            masked_s += tm;
            dense_s += std::chrono::duration<double>(t2 - t1).count();
        }
        st.counters["vs_dense"] = masked_s / dense_s;
    } else {
        for (auto _ : st) run(dw);
    }
    // FLOPs: the multiply-adds of visible pairs; bytes at least: read the visible inputs (halo
    // ignored) and write (or read) the visible outputs
    set_counters(st, 2.0 * dw_pairs(as) * s.C, 2.0 * 4 * visible * s.C);
}

void bench_layernorm(benchmark::State& st, const KernelRow& row, const Shape& s) {
    const bool fwd = std::string(row.family) == "layernorm_fwd";
    const int64_t T = s.tokens(), C = s.C;
    LayerNorm ln;
    ln.init(T, C);
    FloatBuffer x = random_buffer(T * C, 1), g = random_buffer(C, 2), b = random_buffer(C, 3), dy = random_buffer(T * C, 4);
    FloatBuffer y((size_t)(T * C)), mean((size_t)T), rstd((size_t)T), dg((size_t)C), db((size_t)C);
    std::string why;
    LayerNorm small;
    small.init(64, C);
    auto check = [&](std::vector<float>& out) {
        small.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
        if (!fwd) small.backward(y.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), rstd.data(), g.data());
        out.assign(y.data(), y.data() + 64 * C);
    };
    if (!agrees_with_ref(row.isa, check, 1e-4, &why)) return st.SkipWithError(why.c_str());
    ln.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
    for (auto _ : st) {
        if (fwd) ln.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
        else ln.backward(y.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), rstd.data(), g.data());
        benchmark::ClobberMemory();
    }
    // fwd: read x, write y (+ 2 stats); bwd: read x, dy, write dx (stats read)
    set_counters(st, (fwd ? 8.0 : 12.0) * T * C, 4.0 * ((fwd ? 2.0 : 3.0) * T * C + 2.0 * T));
}

void bench_gelu(benchmark::State& st, const KernelRow& row, const Shape& s) {
    const bool fwd = std::string(row.family) == "gelu_fwd";
    const int64_t n = s.tokens() * 4 * s.C;
    FloatBuffer x = random_buffer(n, 1), dy = random_buffer(n, 2), y((size_t)n);
    std::string why;
    auto check = [&](std::vector<float>& out) {
        if (fwd) gelu_forward(y.data(), x.data(), 4096);
        else gelu_backward(y.data(), dy.data(), x.data(), 4096);
        out.assign(y.data(), y.data() + 4096);
    };
    if (!agrees_with_ref(row.isa, check, 1e-5, &why)) return st.SkipWithError(why.c_str());
    for (auto _ : st) {
        if (fwd) gelu_forward(y.data(), x.data(), n);
        else gelu_backward(y.data(), dy.data(), x.data(), n);
        benchmark::ClobberMemory();
    }
    set_counters(st, (fwd ? 30.0 : 40.0) * n, 4.0 * (fwd ? 2.0 : 3.0) * n);
}

// GRN forward = statistics pass + apply pass; backward = reduction pass + apply pass. With `gelu`,
// the block's fused form: GELU folded into the statistics pass (forward) and the apply pass (backward).
void bench_grn(benchmark::State& st, const KernelRow& row, const Shape& s, bool fwd, bool gelu) {
    const int64_t R = s.H * s.W, D = 4 * s.C, n = s.N * R * D;
    Grn grn;
    grn.init(s.N, R, D);
    FloatBuffer x = random_buffer(n, 1), dy = random_buffer(n, 2), y((size_t)n), ga = random_buffer(D, 3),
                be = random_buffer(D, 4), gx((size_t)(s.N * D)), nx((size_t)(s.N * D)), dga((size_t)D), dbe((size_t)D);
    std::string why;
    FloatBuffer act((size_t)n);  // the GELU output the fused forward writes
    Grn small;
    small.init(1, R, D);
    auto run = [&](Grn& g, bool forward_only) {
        if (gelu) {
            g.forward_gelu(y.data(), act.data(), gx.data(), nx.data(), x.data(), ga.data(), be.data());
            if (!forward_only) g.backward_gelu(y.data(), dga.data(), dbe.data(), dy.data(), act.data(), x.data(), gx.data(), nx.data(), ga.data());
        } else {
            g.forward(y.data(), gx.data(), nx.data(), x.data(), ga.data(), be.data());
            if (!forward_only) g.backward(y.data(), dga.data(), dbe.data(), dy.data(), x.data(), gx.data(), nx.data(), ga.data());
        }
    };
    auto check = [&](std::vector<float>& out) {
        run(small, fwd);
        out.assign(y.data(), y.data() + R * D);
    };
    if (!agrees_with_ref(row.isa, check, 1e-4, &why)) return st.SkipWithError(why.c_str());
    run(grn, true);
    for (auto _ : st) {
        if (fwd) {
            if (gelu) grn.forward_gelu(y.data(), act.data(), gx.data(), nx.data(), x.data(), ga.data(), be.data());
            else grn.forward(y.data(), gx.data(), nx.data(), x.data(), ga.data(), be.data());
        } else {
            if (gelu) grn.backward_gelu(y.data(), dga.data(), dbe.data(), dy.data(), act.data(), x.data(), gx.data(), nx.data(), ga.data());
            else grn.backward(y.data(), dga.data(), dbe.data(), dy.data(), x.data(), gx.data(), nx.data(), ga.data());
        }
        benchmark::ClobberMemory();
    }
    // bytes: fwd reads x, writes y (+ gelu: writes the GELU output, reads it back); bwd reads dy and
    // x twice and writes dx (+ gelu: reads h)
    const double passes = fwd ? (gelu ? 4.0 : 3.0) : (gelu ? 6.0 : 5.0);
    set_counters(st, (fwd ? 5.0 : 7.0) * n + (gelu ? 30.0 * n : 0.0), 4.0 * passes * n);
}

// STREAM-like triad a = b + s*c on DRAM-sized arrays (3 x 64 MB), normal stores: the bandwidth the
// memory-bound kernels are compared with.
void bench_triad(benchmark::State& st) {
    const int64_t n = 16 << 20;
    // The three arrays start at different offsets modulo 4 KB (as STREAM's OFFSET): with equal offsets
    // every load would alias the store of the same index (4K aliasing).
    FloatBuffer a((size_t)n + 1024), b = random_buffer(n + 1024, 1), c = random_buffer(n + 1024, 2);
    for (auto _ : st) {
        // SSE (every x86-64 has it): a scalar loop was compute-bound below the memory's speed here.
        parallel_for(n / 16, [&](int64_t i0, int64_t i1, int) {
            const __m128 s = _mm_set1_ps(3.0f);
            float *pa = a.data(), *pb = b.data() + 272, *pc = c.data() + 544;
            for (int64_t i = i0 * 16; i < i1 * 16; i += 4)
                _mm_storeu_ps(pa + i, _mm_add_ps(_mm_loadu_ps(pb + i), _mm_mul_ps(s, _mm_loadu_ps(pc + i))));
        });
        benchmark::ClobberMemory();
    }
    set_counters(st, 2.0 * n, 12.0 * n);
}

void bench_adamw(benchmark::State& st, const KernelRow& row) {
    const int64_t n = 3708400;  // atto's parameters
    FloatBuffer p = random_buffer(n, 1), m((size_t)n), v((size_t)n), g = random_buffer(n, 2);
    select_isa(row.isa);
    AdamW opt;
    opt.init({ParamGroup{0, n, 1.0, 0.05}}, AdamWConfig());
    int64_t step = 1;
    for (auto _ : st) {
        opt.update(p.data(), m.data(), v.data(), g.data(), 1e-3, step++);
        benchmark::ClobberMemory();
    }
    set_counters(st, 14.0 * n, 4.0 * 7 * n);
}

// fp32 <-> bf16 on DRAM-sized arrays (16M values: 64 MB of fp32, 32 MB of bf16), threaded as the
// layers run them; bytes: 4 read + 2 written (narrowing) or 2 read + 4 written (widening) per value.
void bench_bf16(benchmark::State& st, const KernelRow& row) {
    const int64_t n = 16 << 20;
    const bool narrow = std::string(row.family) == "bf16_from_f32";
    FloatBuffer x = random_buffer(n, 1);
    std::vector<bf16> h((size_t)n);
    select_isa(row.isa);
    to_bf16(h.data(), x.data(), n);
    for (auto _ : st) {
        if (narrow) to_bf16(h.data(), x.data(), n);
        else from_bf16(x.data(), h.data(), n);
        benchmark::ClobberMemory();
    }
    set_counters(st, 0.0, 6.0 * n);
}

// ------------------------------------------------------------------------------------------------
// oneDNN's depthwise convolution (NHWC activations, weights in its preferred layout)

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

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    try {
        std::vector<Shape> shapes = load_shapes();
        // manual: the benchmark sets its own iteration time (the masked depthwise rows)
        auto reg = [&](const std::string& name, std::function<void(benchmark::State&)> fn, bool manual = false) {
            auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) { fn(st); });
            if (manual) b->UseManualTime();
            else b->UseRealTime();
            b->Unit(benchmark::kMillisecond);
        };
        for (const KernelRow& row : kernel_rows()) {
            const std::string fam = row.family, isa = isa_name(row.isa);
            if (!isa_supported(row.isa)) {
                reg(fam + "/" + isa, [isa](benchmark::State& st) { st.SkipWithError(("CPU lacks " + isa).c_str()); });
                continue;
            }
            if (fam == "bf16_from_f32" || fam == "f32_from_bf16") {
                reg(fam + "/" + isa + "/dram", [row](benchmark::State& st) { bench_bf16(st, row); });
                continue;
            }
            if (fam == "adamw") {
                reg("adamw/" + isa + "/atto_params", [row](benchmark::State& st) { bench_adamw(st, row); });
                continue;
            }
            // The token-wise families also run on atto's stage 1 at batch 128, a DRAM-sized case: at batch 32
            // a LayerNorm's tensors (16 MB in, 16 MB out) partly stay in a 32 MB L3 between iterations.
            std::vector<Shape> fam_shapes = shapes;
            if (fam.rfind("dwconv", 0) != 0) fam_shapes.push_back(Shape{"atto", "stage1_b128", 128, 56, 56, 40, 8});
            for (const Shape& s : fam_shapes) {
                const std::string tail = "/" + isa + "/" + s.model + "/" + s.name;
                if (fam.rfind("dwconv_sparse", 0) == 0 || fam.rfind("dwconv_pairs", 0) == 0) {
                    continue;  // run by the dwconv_*_masked60 rows of stages 3 and 4 (tiny tiles)
                } else if (fam.rfind("dwconv", 0) == 0) {
                    reg(fam + tail, [row, s](benchmark::State& st) { bench_dwconv(st, row, s, 0.0); });
                    reg(fam + "_masked60" + tail, [row, s](benchmark::State& st) { bench_dwconv(st, row, s, 0.6); }, true);
                } else if (fam.rfind("layernorm", 0) == 0) {
                    reg(fam + tail, [row, s](benchmark::State& st) { bench_layernorm(st, row, s); });
                } else if (fam.rfind("gelu", 0) == 0) {
                    reg(fam + tail, [row, s](benchmark::State& st) { bench_gelu(st, row, s); });
                } else if (fam == "grn_apply" || fam == "grn_bwd_apply") {  // one row per pass pair
                    const bool fwd = fam == "grn_apply";
                    reg(std::string(fwd ? "grn_fwd" : "grn_bwd") + tail, [row, s, fwd](benchmark::State& st) { bench_grn(st, row, s, fwd, false); });
                } else if (fam == "grn_gelu_sumsq" || fam == "grn_bwd_apply_gelu") {
                    const bool fwd = fam == "grn_gelu_sumsq";
                    reg(std::string(fwd ? "gelu_grn_fwd" : "gelu_grn_bwd") + tail,
                        [row, s, fwd](benchmark::State& st) { bench_grn(st, row, s, fwd, true); });
                }
            }
        }
        reg("triad/dram", [](benchmark::State& st) { bench_triad(st); });
        for (const Shape& s : shapes)
            for (const char* dir : {"fwd", "bwd_data", "bwd_wei"})
                reg(std::string("onednn_dwconv_") + dir + "/" + s.model + "/" + s.name,
                    [s, dir](benchmark::State& st) { bench_onednn_dwconv(st, s, dir); });
        for (const Shape& s : shapes)
            for (const char* dir : {"fwd", "bwd_data", "bwd_wei"})
                for (bool expand : {true, false})
                    for (bool bf16_inputs : {false, true})
                        reg(std::string("onednn_matmul_") + (bf16_inputs ? "bf16_" : "f32_") + dir + "/" + s.model + "/" + s.name +
                                (expand ? "_pw1" : "_pw2"),
                            [s, expand, bf16_inputs, dir](benchmark::State& st) { bench_onednn_matmul(st, s, expand, bf16_inputs, dir); });
        std::fprintf(stderr, "threads: %d (OMP_NUM_THREADS to change)\n", num_threads());
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
