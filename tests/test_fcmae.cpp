// FCMAE (masked encoder + decoder + normalised-pixel loss) against a PyTorch fixture of a reduced
// config (tests/reference/make_fixtures.py: dense emulation with explicit masks), the checkpoint
// names, and the optimizer groups of pre-training.
#include <doctest/doctest.h>

#include <cmath>

#include "convnextv2/fcmae.h"
#include "core/json.h"
#include "tests/util.h"

using namespace cnx;

namespace {

// fp32: close to PyTorch's fp32 step; bf16 (GEMM inputs, the blocks' large activations and the
// branch outputs rounded, simd/ and README's precision table): within bf16's rounding of it.
struct FcmaeTolerance {
    double loss, pred_rtol, pred_atol, pred_cos, grad_rtol, grad_atol, grad_cos, grad_norm;
};

void check_fcmae_against_fixture(Precision precision) {
    const FcmaeTolerance tol = precision == Precision::kBf16 ? FcmaeTolerance{1e-2, 1.0, 0.1, 0.9999, 1.0, 1.0, 0.995, 2e-2}
                                                             : FcmaeTolerance{1e-4, 1e-3, 1e-4, 0.99999, 3e-3, 3e-4, 0.9999, 2e-3};
    SafetensorsReader f(test::fixture_path("fcmae_tiny.safetensors"));
    int64_t N = 0;
    const ModelConfig cfg = test::fixture_config(f, &N);
    std::vector<float> maskf = f.read_f32("mask");
    const int64_t L = (int64_t)maskf.size() / N;
    int64_t kept = 0;
    for (int64_t l = 0; l < L; l++) kept += maskf[(size_t)l] == 0.0f;
    const double ratio = 1.0 - (double)kept / (double)L;

    Fcmae model(cfg, N, ratio, true, precision);
    const ParamLayout& Lp = model.layout().all;
    FloatBuffer P((size_t)Lp.total), G((size_t)Lp.total);
    test::fill_formula(P.data(), Lp);
    std::vector<uint8_t> mask(maskf.begin(), maskf.end());
    model.set_mask(mask.data());
    std::vector<float> images = f.read_f32("images");
    const double loss = model.forward(P.data(), images.data());
    CHECK(loss == doctest::Approx(f.read_f32("loss")[0]).epsilon(tol.loss));
    std::vector<float> pred = f.read_f32("pred");
    CHECK_CLOSE(test::compare(model.prediction(), pred.data(), (int64_t)pred.size(), tol.pred_rtol, tol.pred_atol, tol.pred_cos), model.prediction(),
                pred.data());

    model.backward(P.data(), G.data());
    for (const ParamTensor& t : Lp.tensors) {
        CAPTURE(t.name);
        std::vector<float> got((size_t)t.numel);
        tensor_to_official(t, G.data() + t.offset, got.data());
        std::vector<float> want, sampled;
        const float* g = got.data();
        int64_t n = t.numel;
        if (f.has("grad." + t.name)) {
            want = f.read_f32("grad." + t.name);
        } else {
            want = f.read_f32("gradsample." + t.name);
            for (int64_t i : test::sample_indices(t.numel)) sampled.push_back(got[(size_t)i]);
            g = sampled.data();
            n = (int64_t)sampled.size();
            double norm = 0;
            for (float v : got) norm += (double)v * v;
            CHECK(std::sqrt(norm) == doctest::Approx(f.read_f32("gradnorm." + t.name)[0]).epsilon(tol.grad_norm));
        }
        REQUIRE((int64_t)want.size() == n);
        double m = 1e-12;
        for (float v : want) m = std::max(m, (double)std::fabs(v));
        CHECK_CLOSE(test::compare(g, want.data(), n, tol.grad_rtol, tol.grad_atol * m, tol.grad_cos), g, want.data());
    }
}

}  // namespace

TEST_CASE("FCMAE loss, predictions and every gradient match PyTorch") { check_fcmae_against_fixture(Precision::kFp32); }

TEST_CASE("FCMAE in bf16 precision (masked encoder, decoder) within bf16 tolerance of PyTorch's fp32 step") {
    check_fcmae_against_fixture(Precision::kBf16);
}

TEST_CASE("FCMAE checkpoint names and pre-training weight decay groups") {
    ModelConfig cfg = model_config("atto");
    FcmaeLayout F = make_fcmae_layout(cfg);
    // encoder under "encoder." (dense names), then proj, mask_token, decoder.0, pred
    CHECK(F.all.find("encoder.stages.2.5.dwconv.weight") != nullptr);
    CHECK(F.all.find("mask_token")->shape == std::vector<int64_t>{1, 512, 1, 1});
    CHECK(F.all.find("pred.weight")->shape == std::vector<int64_t>{3072, 512, 1, 1});
    CHECK(F.all.find("decoder.0.grn.gamma")->shape == std::vector<int64_t>{1, 1, 1, 2048});
    CHECK(F.all.find("norm.weight") == nullptr);
    // encoder 3,386,760 parameters; decoder side C3*512 + 512 + 512 + 2,130,432 + 1,575,936
    CHECK(F.encoder.total == 3386760);
    CHECK(F.all.total - F.encoder.total == 320 * 512 + 512 + 512 + 2130432 + 1575936);
    // weight decay: none on 1-D and biases; GRN gamma/beta (4-D) and the mask token are decayed
    std::vector<ParamGroup> groups = fcmae_param_groups(F, 0.05f);
    auto decay_of = [&](const std::string& name) {
        const ParamTensor* t = F.all.find(name);
        for (const ParamGroup& g : groups)
            if (t->offset >= g.offset && t->offset < g.offset + g.count) return g.weight_decay;
        return -1.0;
    };
    CHECK(decay_of("mask_token") == doctest::Approx(0.05));
    CHECK(decay_of("decoder.0.grn.gamma") == doctest::Approx(0.05));
    CHECK(decay_of("encoder.stages.0.0.grn.beta") == doctest::Approx(0.05));
    CHECK(decay_of("encoder.stages.0.0.norm.weight") == 0.0);
    CHECK(decay_of("pred.bias") == 0.0);
    CHECK(decay_of("encoder.stages.0.0.pwconv1.weight") == doctest::Approx(0.05));
}
