// The masked (FCMAE) encoder against a dense reference that applies the sparse semantics explicitly:
// every layer runs on all tokens with dense nn layers; the depthwise input is zeroed at masked sites,
// the GRN statistics see masked rows as zeros, each block keeps only its visible outputs, and the
// stem and downsample outputs are zeroed at masked patches. Odd batch, odd patch grids, mask ratios
// 0, 0.6 and 1; the encoder output, a loss on it, and every parameter gradient must agree.
#include <doctest/doctest.h>

#include <cmath>

#include "convnextv2/mask.h"
#include "convnextv2/model.h"
#include "core/rng.h"
#include "nn/gelu.h"
#include "nn/patchify.h"
#include "tests/util.h"

using namespace cnx;

namespace {

// Per-token visibility (1 kept, 0 masked) of a stage of side H under a mask on a G x G grid.
std::vector<float> visibility(const uint8_t* mask, int64_t N, int64_t G, int64_t H) {
    const int64_t t = H / G;
    std::vector<float> v((size_t)(N * H * H));
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < H; w++) v[(size_t)((n * H + h) * H + w)] = mask[n * G * G + (h / t) * G + w / t] ? 0.0f : 1.0f;
    return v;
}

void mul_rows(float* x, const std::vector<float>& v, int64_t C) {
    for (size_t t = 0; t < v.size(); t++)
        for (int64_t c = 0; c < C; c++) x[t * (size_t)C + (size_t)c] *= v[t];
}

// The dense reference encoder with explicit masking (forward and backward).
struct Reference {
    ModelConfig cfg;
    ParamLayout L;
    int64_t N;
    std::vector<float> vis[kStages];
    struct Block {
        std::vector<float> x_in, xm, dw, ln, mean, rstd, h, g, gv, r, gx, nx, y, x_out;
    };
    struct Stage {
        int64_t H, C, T;
        std::vector<float> x0, ds_in_ln, ds_mean, ds_rstd;
        std::vector<Block> blocks;
        StageLayers layers;
        LayerNorm ds_ln;
        Linear ds_lin;
        std::vector<int64_t> ds_off;
    } st[kStages];
    std::vector<float> stem_patches, stem_out, stem_mean, stem_rstd;
    Linear stem_lin;
    LayerNorm stem_ln;

    Reference(const ModelConfig& c, int64_t n, const uint8_t* mask) : cfg(c), L(make_param_layout(c, false)), N(n) {
        const int64_t G = cfg.stage_size(3), k = cfg.stem_stride;
        for (int s = 0; s < kStages; s++) {
            Stage& S = st[s];
            S.H = cfg.stage_size(s);
            S.C = cfg.dims[s];
            S.T = N * S.H * S.H;
            vis[s] = visibility(mask, N, G, S.H);
            S.layers.init(N, S.H, S.H, S.C, S.T, S.H * S.H, Precision::kFp32);
            S.blocks.resize((size_t)cfg.depths[s]);
            if (s > 0) {
                const Stage& p = st[s - 1];
                S.ds_ln.init(p.T, p.C);
                S.ds_lin.init(S.T, 4 * p.C, S.C);
                S.ds_off.resize((size_t)p.T);
                patch_offsets(S.ds_off.data(), N, p.H, p.H, p.C, 2);
            }
        }
        stem_lin.init(st[0].T, k * k * cfg.in_chans, st[0].C);
        stem_ln.init(st[0].T, st[0].C);
    }

    const std::vector<float>& forward(const float* P, const float* images) {
        const int64_t k = cfg.stem_stride;
        Stage& s0 = st[0];
        stem_patches.resize((size_t)(s0.T * k * k * cfg.in_chans));
        stem_out.resize((size_t)(s0.T * s0.C));
        stem_mean.resize((size_t)s0.T);
        stem_rstd.resize((size_t)s0.T);
        s0.x0.resize((size_t)(s0.T * s0.C));
        patch_gather(stem_patches.data(), images, N, cfg.input_size, cfg.input_size, cfg.in_chans, k);
        stem_lin.forward(stem_out.data(), stem_patches.data(), P + L.stem_w, P + L.stem_b);
        stem_ln.forward(s0.x0.data(), stem_mean.data(), stem_rstd.data(), stem_out.data(), P + L.stem_ln_w, P + L.stem_ln_b);
        mul_rows(s0.x0.data(), vis[0], s0.C);
        for (int s = 0; s < kStages; s++) {
            Stage& S = st[s];
            const int64_t T = S.T, C = S.C;
            if (s > 0) {
                Stage& p = st[s - 1];
                S.ds_in_ln.resize((size_t)(p.T * p.C));
                S.ds_mean.resize((size_t)p.T);
                S.ds_rstd.resize((size_t)p.T);
                S.x0.resize((size_t)(T * C));
                S.ds_ln.forward(Rows(S.ds_in_ln.data(), S.ds_off.data()), S.ds_mean.data(), S.ds_rstd.data(),
                                p.blocks.back().x_out.data(), P + L.ds_ln_w[s], P + L.ds_ln_b[s]);
                S.ds_lin.forward(S.x0.data(), S.ds_in_ln.data(), P + L.ds_w[s], P + L.ds_b[s]);
                mul_rows(S.x0.data(), vis[s], C);
            }
            for (size_t j = 0; j < S.blocks.size(); j++) {
                Block& b = S.blocks[j];
                const BlockParams& w = L.blocks[s][j];
                b.x_in = j == 0 ? S.x0 : S.blocks[j - 1].x_out;
                b.xm = b.x_in;
                mul_rows(b.xm.data(), vis[s], C);  // zero the depthwise input at masked sites
                for (auto* v : {&b.dw, &b.ln, &b.y, &b.x_out}) v->resize((size_t)(T * C));
                for (auto* v : {&b.h, &b.g, &b.gv, &b.r}) v->resize((size_t)(T * 4 * C));
                b.mean.resize((size_t)T);
                b.rstd.resize((size_t)T);
                b.gx.resize((size_t)(N * 4 * C));
                b.nx.resize((size_t)(N * 4 * C));
                S.layers.dw.forward(b.dw.data(), b.xm.data(), P + w.dw_w, P + w.dw_b);
                S.layers.ln.forward(b.ln.data(), b.mean.data(), b.rstd.data(), b.dw.data(), P + w.ln_w, P + w.ln_b);
                S.layers.pw1.forward(b.h.data(), b.ln.data(), P + w.pw1_w, P + w.pw1_b);
                gelu_forward(b.g.data(), b.h.data(), T * 4 * C);
                b.gv = b.g;
                mul_rows(b.gv.data(), vis[s], 4 * C);  // GRN statistics over visible tokens only
                S.layers.grn.forward(b.r.data(), b.gx.data(), b.nx.data(), b.gv.data(), P + w.grn_gamma, P + w.grn_beta);
                S.layers.pw2.forward(b.y.data(), b.r.data(), P + w.pw2_w, P + w.pw2_b);
                for (int64_t i = 0; i < T * C; i++) b.x_out[(size_t)i] = b.x_in[(size_t)i] + b.y[(size_t)i];
                mul_rows(b.x_out.data(), vis[s], C);  // keep visible outputs
            }
        }
        return st[3].blocks.back().x_out;
    }

    void backward(const float* P, float* Gr, const float* d_out) {
        Stage& s3 = st[3];
        std::vector<float> dx(d_out, d_out + s3.T * s3.C);
        for (int s = kStages - 1; s >= 0; s--) {
            Stage& S = st[s];
            const int64_t T = S.T, C = S.C;
            for (int j = (int)S.blocks.size() - 1; j >= 0; j--) {
                Block& b = S.blocks[(size_t)j];
                const BlockParams& w = L.blocks[s][(size_t)j];
                mul_rows(dx.data(), vis[s], C);  // through the output masking
                std::vector<float> d4((size_t)(T * 4 * C)), d1((size_t)(T * C)), dxm((size_t)(T * C), 0.0f);
                S.layers.pw2.backward(d4.data(), Gr + w.pw2_w, Gr + w.pw2_b, dx.data(), b.r.data(), P + w.pw2_w, false);
                S.layers.grn.backward(d4.data(), Gr + w.grn_gamma, Gr + w.grn_beta, d4.data(), b.gv.data(), b.gx.data(), b.nx.data(),
                                      P + w.grn_gamma);
                mul_rows(d4.data(), vis[s], 4 * C);
                gelu_backward(d4.data(), d4.data(), b.h.data(), T * 4 * C);
                S.layers.pw1.backward(d1.data(), Gr + w.pw1_w, Gr + w.pw1_b, d4.data(), b.ln.data(), P + w.pw1_w, false);
                S.layers.ln.backward(d1.data(), Gr + w.ln_w, Gr + w.ln_b, d1.data(), b.dw.data(), b.mean.data(), b.rstd.data(),
                                     P + w.ln_w);
                S.layers.dw.backward_weights(Gr + w.dw_w, Gr + w.dw_b, d1.data(), b.xm.data());
                S.layers.dw.backward_data(dxm.data(), d1.data(), P + w.dw_w);
                mul_rows(dxm.data(), vis[s], C);
                for (int64_t i = 0; i < T * C; i++) dx[(size_t)i] += dxm[(size_t)i];
            }
            mul_rows(dx.data(), vis[s], C);  // through the stage input masking
            if (s > 0) {
                Stage& p = st[s - 1];
                std::vector<float> dpatch((size_t)(p.T * p.C)), dprev((size_t)(p.T * p.C));
                S.ds_lin.backward(dpatch.data(), Gr + L.ds_w[s], Gr + L.ds_b[s], dx.data(), S.ds_in_ln.data(), P + L.ds_w[s], false);
                S.ds_ln.backward(dprev.data(), Gr + L.ds_ln_w[s], Gr + L.ds_ln_b[s], ConstRows(dpatch.data(), S.ds_off.data()),
                                 p.blocks.back().x_out.data(), S.ds_mean.data(), S.ds_rstd.data(), P + L.ds_ln_w[s]);
                dx = dprev;
            }
        }
        stem_ln.backward(dx.data(), Gr + L.stem_ln_w, Gr + L.stem_ln_b, dx.data(), stem_out.data(), stem_mean.data(),
                         stem_rstd.data(), P + L.stem_ln_w);
        stem_lin.backward(nullptr, Gr + L.stem_w, Gr + L.stem_b, dx.data(), stem_patches.data(), P + L.stem_w, false);
    }
};

ModelConfig small_config(int stem, int size, int in_chans) {
    ModelConfig c;
    c.name = "custom";
    int d[4] = {1, 2, 1, 1}, w[4] = {8, 16, 24, 40};
    for (int s = 0; s < 4; s++) {
        c.depths[s] = d[s];
        c.dims[s] = w[s];
    }
    c.stem_stride = stem;
    c.input_size = size;
    c.in_chans = in_chans;
    c.mean.assign((size_t)in_chans, 0.0f);
    c.std.assign((size_t)in_chans, 1.0f);
    return c;
}

void check_masked_against_reference(const ModelConfig& cfg, int64_t N, double ratio, uint64_t seed) {
    CAPTURE(ratio);
    CAPTURE(cfg.stem_stride);
    CAPTURE(cfg.input_size);
    ModelOptions opt;
    opt.with_head = false;
    opt.mask_ratio = ratio;
    ConvNeXtV2 net(cfg, N, opt);
    const ParamLayout& L = net.layout();
    const int64_t G = net.grid(), Lp = G * G;
    std::vector<uint8_t> mask((size_t)(N * Lp));
    make_mask(mask.data(), N, Lp, ratio, seed);
    net.set_mask(mask.data());
    FloatBuffer P((size_t)L.total), Gm((size_t)L.total), Gr((size_t)L.total);
    test::fill_formula(P.data(), L);
    const int64_t S = cfg.input_size;
    std::vector<float> images = test::random_vector(N * S * S * cfg.in_chans, seed + 1);
    const float* out = net.forward(P.data(), images.data());
    Reference ref(cfg, N, mask.data());
    const std::vector<float>& want = ref.forward(P.data(), images.data());
    const int64_t n_out = N * G * G * cfg.dims[3];
    REQUIRE((int64_t)want.size() == n_out);
    double scale = 1e-6;
    for (float v : want) scale = std::max(scale, (double)std::fabs(v));
    auto c = test::compare(out, want.data(), n_out, 1e-4, 1e-5 * scale);
    CHECK_CLOSE(c, out, want.data());
    // loss = <w, out>: its value and every gradient
    std::vector<float> wout = test::random_vector(n_out, seed + 2);
    double l_m = 0, l_r = 0;
    for (int64_t i = 0; i < n_out; i++) {
        l_m += (double)wout[(size_t)i] * out[i];
        l_r += (double)wout[(size_t)i] * want[(size_t)i];
    }
    CHECK(l_m == doctest::Approx(l_r).epsilon(1e-4).scale(scale));
    net.backward(P.data(), Gm.data(), wout.data());
    ref.backward(P.data(), Gr.data(), wout.data());
    int nonzero = 0;
    for (const ParamTensor& t : L.tensors) {
        CAPTURE(t.name);
        double m = 1e-12;
        for (int64_t i = 0; i < t.numel; i++) m = std::max(m, (double)std::fabs(Gr[(size_t)(t.offset + i)]));
        auto cg = test::compare(Gm.data() + t.offset, Gr.data() + t.offset, t.numel, 2e-3, 2e-4 * m, 0.9999);
        CHECK_CLOSE(cg, Gm.data() + t.offset, Gr.data() + t.offset);
        nonzero += cg.nonzero > 0;
    }
    if (ratio < 1) {
        CHECK(nonzero == (int)L.tensors.size());
    } else {  // nothing visible: the output and every gradient vanish
        CHECK(c.nonzero == 0);
        CHECK(nonzero == 0);
    }
}

}  // namespace

TEST_CASE("masked encoder equals the dense reference with explicit masking (ratios 0, 0.6, 1)") {
    const int64_t N = 3;  // odd batch
    for (double ratio : {0.0, 0.6, 1.0}) {
        check_masked_against_reference(small_config(2, 48, 3), N, ratio, 11);  // 3x3 patch grid, tiles 8,4,2,1
        check_masked_against_reference(small_config(1, 40, 1), N, ratio, 12);  // 5x5 grid, 1 channel
    }
    check_masked_against_reference(small_config(4, 96, 3), 1, 0.6, 13);  // batch 1, the paper's stem
}

TEST_CASE("at mask ratio 0 the masked encoder equals the dense encoder (same weights)") {
    ModelConfig cfg = small_config(2, 32, 3);
    const int64_t N = 2;
    ModelOptions dense_opt, mask_opt;
    dense_opt.with_head = mask_opt.with_head = false;
    mask_opt.mask_ratio = 0.0;
    ConvNeXtV2 dense(cfg, N, dense_opt), masked(cfg, N, mask_opt);
    const ParamLayout& L = dense.layout();
    std::vector<uint8_t> mask((size_t)(N * masked.grid() * masked.grid()), 0);
    masked.set_mask(mask.data());
    FloatBuffer P((size_t)L.total), Gd((size_t)L.total), Gm((size_t)L.total);
    test::fill_formula(P.data(), L);
    std::vector<float> images = test::random_vector(N * 32 * 32 * 3, 5);
    const int64_t n_out = N * 2 * 2 * 40;
    const float* od = dense.forward(P.data(), images.data(), 0.3f, 77);  // drop path too: the same streams
    std::vector<float> out_dense(od, od + n_out);
    const float* om = masked.forward(P.data(), images.data(), 0.3f, 77);
    CHECK_CLOSE(test::compare(om, out_dense.data(), n_out, 1e-5, 1e-6), om, out_dense.data());
    std::vector<float> w = test::random_vector(n_out, 6);
    dense.backward(P.data(), Gd.data(), w.data());
    masked.backward(P.data(), Gm.data(), w.data());
    for (const ParamTensor& t : L.tensors) {
        CAPTURE(t.name);
        double m = 1e-12;
        for (int64_t i = 0; i < t.numel; i++) m = std::max(m, (double)std::fabs(Gd[(size_t)(t.offset + i)]));
        // equal up to summation order (the masked path orders tokens tile by tile)
        CHECK_CLOSE(test::compare(Gm.data() + t.offset, Gd.data() + t.offset, t.numel, 1e-3, 1e-4 * m, 0.999999),
                    Gm.data() + t.offset, Gd.data() + t.offset);
    }
}

TEST_CASE("masks: exactly floor(L(1-ratio)) visible patches per sample; the same key gives the same mask") {
    for (int64_t L : {1, 4, 9, 49, 196}) {
        for (double r : {0.0, 0.25, 0.6, 0.75, 1.0}) {
            const int64_t N = 5;
            std::vector<uint8_t> a((size_t)(N * L)), b((size_t)(N * L)), c((size_t)(N * L));
            make_mask(a.data(), N, L, r, 42);
            make_mask(b.data(), N, L, r, 42);
            make_mask(c.data(), N, L, r, 43);
            CHECK(a == b);
            // samples 2.. of the batch drawn alone (a data-parallel rank's slice) are the same
            std::vector<uint8_t> tail((size_t)((N - 2) * L));
            make_mask(tail.data(), N - 2, L, r, 42, 2);
            CHECK(std::equal(tail.begin(), tail.end(), a.begin() + 2 * L));
            const int64_t keep = (int64_t)std::floor(L * (1 - r) + 1e-9);
            CHECK(keep == mask_keep_count(L, r));
            for (int64_t n = 0; n < N; n++) {
                int64_t visible = 0;
                for (int64_t l = 0; l < L; l++) visible += a[(size_t)(n * L + l)] == 0;
                CHECK(visible == keep);
            }
            if (L >= 49 && r > 0 && r < 1) CHECK(a != c);
        }
    }
    // 49 patches at 0.6: 19 kept, 30 masked
    CHECK(mask_keep_count(49, 0.6) == 19);
}
