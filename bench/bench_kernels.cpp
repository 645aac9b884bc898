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
#include <functional>

#include "bench/bench_common.h"
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
using namespace cnx::bench;

namespace {

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

// ------------------------------------------------------------------------------------------------
// our kernels

void bench_dwconv(benchmark::State& st, const KernelRow& row, const Shape& s, double mask_ratio) {
    const std::string fam = row.family;
    std::string why;
    DwConv one;
    one.init(1, s.H, s.W, s.C);
    FloatBuffer x1 = random_buffer(s.H * s.W * s.C, 1), w = random_buffer(49 * s.C, 2), b = random_buffer(s.C, 3);
    FloatBuffer g1 = random_buffer(s.H * s.W * s.C, 4);
    const bool half = fam == "dwconv_fwd_bf16";  // bf16 output: 2 bytes a value written
    auto check = [&](std::vector<float>& out) {
        FloatBuffer y((size_t)(s.H * s.W * s.C)), dw((size_t)(49 * s.C)), db((size_t)s.C);
        if (half) {
            std::vector<bf16> y16(y.size());
            one.forward(y16.data(), x1.data(), w.data(), b.data());
            from_bf16(y.data(), y16.data(), (int64_t)y16.size());
        }
        if (fam == "dwconv_fwd") one.forward(y.data(), x1.data(), w.data(), b.data());
        if (fam == "dwconv_bwd_data") one.backward_data(y.data(), g1.data(), w.data());
        if (fam == "dwconv_bwd_wei") {
            one.backward_weights(dw.data(), db.data(), g1.data(), x1.data());
            out.assign(dw.data(), dw.data() + dw.size());
            return;
        }
        out.assign(y.data(), y.data() + y.size());
    };
    if (!agrees_with_ref(row.isa, check, half ? 1e-2 : 1e-4, &why)) return st.SkipWithError(why.c_str());

    DwConv dw;
    dw.init(s.N, s.H, s.W, s.C);
    const ActiveSet as = active_set(s, mask_ratio, 9);
    if (mask_ratio > 0) as.plan_depthwise(dw);
    const int64_t visible = as.rows;  // every token at ratio 0
    const int64_t n = s.tokens() * s.C;
    FloatBuffer x = random_buffer(n, 5), y((size_t)n), gw((size_t)(49 * s.C)), gb((size_t)s.C);
    std::vector<bf16> y16(half ? (size_t)n : 0);
    auto run = [&](DwConv& layer) {
        if (half) layer.forward(y16.data(), x.data(), w.data(), b.data());
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
    set_counters(st, 2.0 * dw_pairs(as) * s.C, (4.0 + (half ? 2.0 : 4.0)) * visible * s.C);
}

void bench_layernorm(benchmark::State& st, const KernelRow& row, const Shape& s) {
    const bool fwd = std::string(row.family) == "layernorm_fwd", half = std::string(row.family) == "layernorm_bwd_bf16";
    const int64_t T = s.tokens(), C = s.C;
    LayerNorm ln;
    ln.init(T, C);
    FloatBuffer x = random_buffer(T * C, 1), g = random_buffer(C, 2), b = random_buffer(C, 3), dy = random_buffer(T * C, 4);
    FloatBuffer y((size_t)(T * C)), mean((size_t)T), rstd((size_t)T), dg((size_t)C), db((size_t)C);
    std::string why;
    LayerNorm small;
    small.init(64, C);
    // layernorm_bwd_bf16: the input in bf16 (the block's depthwise output)
    const std::vector<bf16> x16 = half ? bf16_copy(x.data(), T * C) : std::vector<bf16>();
    auto backward = [&](LayerNorm& layer) {
        if (half) layer.backward(y.data(), dg.data(), db.data(), dy.data(), RowsOf<const bf16>(x16.data()), mean.data(), rstd.data(), g.data());
        else layer.backward(y.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), rstd.data(), g.data());
    };
    auto check = [&](std::vector<float>& out) {
        small.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
        if (!fwd) backward(small);
        out.assign(y.data(), y.data() + 64 * C);
    };
    if (!agrees_with_ref(row.isa, check, 1e-4, &why)) return st.SkipWithError(why.c_str());
    ln.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
    for (auto _ : st) {
        if (fwd) ln.forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data());
        else backward(ln);
        benchmark::ClobberMemory();
    }
    // fwd: read x, write y (+ 2 stats); bwd: read x (2 bytes a value in bf16), dy, write dx (stats read)
    set_counters(st, (fwd ? 8.0 : 12.0) * T * C, (fwd ? 8.0 : half ? 10.0 : 12.0) * T * C + 8.0 * T);
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

// The kernels that write a bf16 GEMM input, through their layers at the stage's shape: the block's
// LayerNorm forward (reads the depthwise output, writes: 2 bytes each; from fp32, a downsample's,
// reads 4); in bf16 GELU + GRN forward (reads h, writes and rereads the GELU output, writes y: 2
// bytes each) and backward (reads dy in fp32, the GELU output twice and h, writes dh in bf16).
// Checked against the reference ISA within bf16's rounding.
void bench_bf16_output(benchmark::State& st, const KernelRow& row, const Shape& s) {
    const std::string fam = row.family;
    const bool ln = fam.rfind("layernorm_fwd", 0) == 0, ln_from_f32 = fam == "layernorm_fwd_to_bf16", fwd = fam == "grn_apply_bf16";
    const int64_t T = s.tokens(), C = ln ? s.C : 4 * s.C, n = T * C, R = s.H * s.W;
    FloatBuffer x = random_buffer(n, 1), dy = random_buffer(n, 2), ga = random_buffer(C, 3),
                be = random_buffer(C, 4), stats((size_t)(2 * T + 2 * s.N * C)), dga((size_t)C), dbe((size_t)C);
    std::vector<bf16> y((size_t)n), x16 = bf16_copy(x.data(), n), act16((size_t)n);
    LayerNorm norm;
    Grn grn;
    auto run = [&](int64_t images) {
        float* a = stats.data();
        if (ln) {
            norm.init(images * R, C);
            if (ln_from_f32) norm.forward(RowsOf<bf16>(y.data()), a, a + T, ConstRows(x.data()), ga.data(), be.data());
            else norm.forward(RowsOf<bf16>(y.data()), a, a + T, RowsOf<const bf16>(x16.data()), ga.data(), be.data());
            return;
        }
        grn.init(images, R, C);
        grn.forward_gelu(y.data(), act16.data(), a, a + s.N * C, x16.data(), ga.data(), be.data());
        if (!fwd) grn.backward_gelu(y.data(), dga.data(), dbe.data(), dy.data(), act16.data(), x16.data(), a, a + s.N * C, ga.data());
    };
    auto check = [&](std::vector<float>& out) {
        run(1);
        out.resize((size_t)(R * C));
        for (size_t i = 0; i < out.size(); i++) out[i] = float_from_bf16(y[i]);
    };
    std::string why;
    if (!agrees_with_ref(row.isa, check, 1e-2, &why)) return st.SkipWithError(why.c_str());
    run(s.N);
    for (auto _ : st) {
        if (ln_from_f32) norm.forward(RowsOf<bf16>(y.data()), stats.data(), stats.data() + T, ConstRows(x.data()), ga.data(), be.data());
        else if (ln) norm.forward(RowsOf<bf16>(y.data()), stats.data(), stats.data() + T, RowsOf<const bf16>(x16.data()), ga.data(), be.data());
        else if (fwd) grn.forward_gelu(y.data(), act16.data(), stats.data(), stats.data() + s.N * C, x16.data(), ga.data(), be.data());
        else grn.backward_gelu(y.data(), dga.data(), dbe.data(), dy.data(), act16.data(), x16.data(), stats.data(), stats.data() + s.N * C, ga.data());
        benchmark::ClobberMemory();
    }
    set_counters(st, (ln ? 8.0 : fwd ? 35.0 : 37.0) * n, (ln_from_f32 ? 6.0 : ln ? 4.0 : fwd ? 8.0 : 12.0) * n);
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

// adamw_bf16 also writes the weights' bf16 copy: 2 more bytes per parameter.
void bench_adamw(benchmark::State& st, const KernelRow& row) {
    const int64_t n = 3708400;  // atto's parameters
    FloatBuffer p = random_buffer(n, 1), m((size_t)n), v((size_t)n), g = random_buffer(n, 2);
    const bool copy = std::string(row.family) == "adamw_bf16";
    std::vector<bf16> p16(copy ? (size_t)n : 0);
    select_isa(row.isa);
    AdamW opt;
    opt.init({ParamGroup{0, n, 1.0, 0.05}}, AdamWConfig());
    int64_t step = 1;
    for (auto _ : st) {
        opt.update(p.data(), m.data(), v.data(), g.data(), 1e-3, step++, copy ? p16.data() : nullptr);
        benchmark::ClobberMemory();
    }
    set_counters(st, 14.0 * n, 4.0 * 7 * n + (copy ? 2.0 * n : 0.0));
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
            if (fam == "adamw" || fam == "adamw_bf16") {
                reg(fam + "/" + isa + "/atto_params", [row](benchmark::State& st) { bench_adamw(st, row); });
                continue;
            }
            // The token-wise families also run on atto's stage 1 at batch 128, a DRAM-sized case: at batch 32
            // a LayerNorm's tensors (16 MB in, 16 MB out) partly stay in a 32 MB L3 between iterations.
            std::vector<Shape> fam_shapes = shapes;
            if (fam.rfind("dwconv", 0) != 0) fam_shapes.push_back(Shape{"atto", "stage1_b128", 128, 56, 56, 40, 8});
            for (const Shape& s : fam_shapes) {
                const std::string tail = "/" + isa + "/" + s.model + "/" + s.name;
                if (fam == "layernorm_fwd_bf16" || fam == "layernorm_fwd_to_bf16" || fam == "grn_apply_bf16" ||
                    fam == "grn_bwd_apply_gelu_bf16") {
                    const std::string name = fam == "grn_apply_bf16" ? "gelu_grn_fwd_bf16" : fam == "grn_bwd_apply_gelu_bf16" ? "gelu_grn_bwd_bf16" : fam;
                    reg(name + tail, [row, s](benchmark::State& st) { bench_bf16_output(st, row, s); });
                } else if (fam.rfind("dwconv_sparse", 0) == 0 || fam.rfind("dwconv_pairs", 0) == 0) {
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
        register_onednn_benchmarks(shapes, reg);
        std::fprintf(stderr, "threads: %d (OMP_NUM_THREADS to change)\n", num_threads());
        benchmark::RunSpecifiedBenchmarks();
        benchmark::Shutdown();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
