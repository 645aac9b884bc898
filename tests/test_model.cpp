// The whole model against PyTorch fixtures (tests/reference/make_fixtures.py): logits, loss, every
// parameter gradient, and a 5-step AdamW loss trajectory; parameter counts of all eight models.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "core/json.h"
#include "nn/convert.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "tests/util.h"

using namespace cnx;

TEST_CASE("parameter counts of all eight models equal the paper's (1000 classes)") {
    const std::pair<const char*, int64_t> expected[] = {
        {"atto", 3708400},    {"femto", 5233240},   {"pico", 9066280},      {"nano", 15623800},
        {"tiny", 28635496},   {"base", 88717800},   {"large", 197956840},   {"huge", 660289640},
    };
    for (const auto& e : expected) {
        ParamLayout L = make_param_layout(model_config(e.first));
        std::string model = e.first;
        CAPTURE(model);
        CHECK(L.total == e.second);
        int64_t blocks = 0;
        for (int s = 0; s < kStages; s++) blocks += model_config(e.first).depths[s];
        // 20 outside the blocks + 10 per block (the official state_dict; 140 for atto).
        CHECK(L.tensors.size() == (size_t)(20 + 10 * blocks));
    }
}

namespace {

struct Fixture {
    SafetensorsReader file;
    ModelConfig cfg;
    int64_t batch = 0;
    float smoothing = 0, lr = 0, wd = 0;

    explicit Fixture(const std::string& name) : file(test::fixture_path(name)) {
        REQUIRE(file.meta("version") == "1");
        cfg = test::fixture_config(file, &batch);
        smoothing = std::stof(file.meta("smoothing"));
        lr = std::stof(file.meta("lr"));
        wd = std::stof(file.meta("weight_decay"));
    }

    std::vector<int32_t> labels() const {
        std::vector<float> l = file.read_f32("labels");
        return std::vector<int32_t>(l.begin(), l.end());
    }
};

float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

// How close a step must come to PyTorch's fp32 fixture: fp32 to its rounding; bf16 (GEMMs on bf16
// inputs) to bf16's, where gradients are held to their direction (cosine) rather than elementwise.
struct Tolerance {
    double logits_rtol, logits_cos, loss, grad_rtol, grad_atol, grad_cos, grad_norm, trajectory;
};
Tolerance tolerance(Precision p) {
    if (p == Precision::kBf16) return Tolerance{3e-2, 0.999, 1e-2, 1.0, 1.0, 0.998, 1e-2, 2e-2};
    return Tolerance{1e-4, 0.99999, 1e-5, 2e-3, 2e-4, 0.99999, 1e-3, 2e-4};
}

// Logits (the inference model's too, bit for bit), loss and every gradient of one step against the
// fixture; the step again, bit for bit; and 5 AdamW steps on the same batch (weight decay except 1-D,
// bias, GRN gamma/beta).
void check_model_against(const std::string& name, Precision precision = Precision::kFp32) {
    Fixture fx(name);
    CAPTURE(name);
    CAPTURE(precision_name(precision));
    const Tolerance tol = tolerance(precision);
    ModelOptions opt;
    opt.precision = precision;
    ConvNeXtV2 model(fx.cfg, fx.batch, opt);
    const ParamLayout& L = model.layout();
    FloatBuffer P((size_t)L.total), G((size_t)L.total), G2((size_t)L.total);
    test::fill_formula(P.data(), L);
    const std::vector<float> images = fx.file.read_f32("images");
    const std::vector<int32_t> labels = fx.labels();
    const int64_t N = fx.batch, K = fx.cfg.num_classes;

    const float* logits = model.forward(P.data(), images.data());
    const std::vector<float> want_logits = fx.file.read_f32("logits");
    {  // the inference model (one set of buffers per stage, shared by its blocks) gives the same logits
        ModelOptions infer = opt;
        infer.training = false;
        ConvNeXtV2 eval_model(fx.cfg, fx.batch, infer);
        const float* z = eval_model.forward(P.data(), images.data());
        CHECK(std::memcmp(z, logits, sizeof(float) * (size_t)(N * K)) == 0);
    }
    CHECK_CLOSE(test::compare(logits, want_logits.data(), N * K, tol.logits_rtol, tol.logits_rtol * max_abs(want_logits), tol.logits_cos),
                logits, want_logits.data());
    const double loss = cross_entropy(model.dlogits(), logits, labels.data(), N, K, fx.smoothing);
    CHECK(loss == doctest::Approx(fx.file.read_f32("loss")[0]).epsilon(tol.loss));

    model.backward(P.data(), G.data(), model.dlogits());
    int checked = 0;
    for (const ParamTensor& t : L.tensors) {
        CAPTURE(t.name);
        std::vector<float> got((size_t)t.numel);
        tensor_to_official(t, G.data() + t.offset, got.data());
        const bool whole = fx.file.has("grad." + t.name);
        const std::vector<float> want = fx.file.read_f32((whole ? "grad." : "gradsample.") + t.name);
        if (!whole) {  // the fixture's sampled elements, and the whole tensor's norm
            double norm = 0;
            for (float g : got) norm += (double)g * g;
            CHECK(std::sqrt(norm) == doctest::Approx(fx.file.read_f32("gradnorm." + t.name)[0]).epsilon(tol.grad_norm));
            std::vector<float> sampled;
            for (int64_t i : test::sample_indices(t.numel)) sampled.push_back(got[(size_t)i]);
            got = sampled;
        }
        REQUIRE(want.size() == got.size());
        CHECK_CLOSE(test::compare(got.data(), want.data(), (int64_t)want.size(), tol.grad_rtol, tol.grad_atol * max_abs(want), tol.grad_cos),
                    got.data(), want.data());
        checked++;
    }
    CHECK(checked == (int)L.tensors.size());

    // The step again, bit for bit; in bf16 with the GEMMs reading the weights' bf16 copy (as training
    // does) instead of rounding them before each product.
    std::vector<bf16> P16;
    if (precision == Precision::kBf16) P16 = bf16_copy(P.data(), L.total);
    const Weights W(P.data(), P16.empty() ? nullptr : P16.data());
    model.forward(W, images.data());
    cross_entropy(model.dlogits(), model.logits(), labels.data(), N, K, fx.smoothing);
    model.backward(W, G2.data(), model.dlogits());
    CHECK(std::memcmp(G.data(), G2.data(), sizeof(float) * (size_t)L.total) == 0);

    AdamW opt_step;
    opt_step.init(param_groups(L, fx.wd, 1.0f), AdamWConfig{0.9, 0.999, 1e-8});
    FloatBuffer m((size_t)L.total), v((size_t)L.total);
    const std::vector<float> traj = fx.file.read_f32("trajectory");
    test::fill_formula(P.data(), L);
    if (!P16.empty()) to_bf16(P16.data(), P.data(), L.total);  // in place: W points at it
    for (size_t step = 0; step < traj.size(); step++) {
        G.zero();
        const float* z = model.forward(W, images.data());
        const double l = cross_entropy(model.dlogits(), z, labels.data(), N, K, fx.smoothing);
        CAPTURE(step);
        CHECK(l == doctest::Approx(traj[step]).epsilon(tol.trajectory));
        model.backward(W, G.data(), model.dlogits());
        opt_step.update(P.data(), m.data(), v.data(), G.data(), fx.lr, (int64_t)step + 1, P16.empty() ? nullptr : P16.data());
    }
    // the optimizer kept the copy equal to the weights rounded
    if (!P16.empty()) CHECK(P16 == bf16_copy(P.data(), L.total));
}

}  // namespace

TEST_CASE("model vs PyTorch: reduced config, 3 channels, stem stride 2, odd batch") { check_model_against("tiny.safetensors"); }
TEST_CASE("model vs PyTorch: reduced config, 1 channel, stem stride 1") { check_model_against("tiny_gray.safetensors"); }
TEST_CASE("model vs PyTorch: atto at 64x64, batch 2") { check_model_against("atto64.safetensors"); }
TEST_CASE("bf16 precision vs PyTorch's fp32: atto at 64x64, batch 2, within bf16 tolerance and deterministic") {
    check_model_against("atto64.safetensors", Precision::kBf16);
}
TEST_CASE("bf16 precision vs PyTorch's fp32: reduced config, 3 channels, odd batch") {
    check_model_against("tiny.safetensors", Precision::kBf16);
}

TEST_CASE("bf16 precision holds the GEMM inputs and each block's large activations in bf16 alone: they shrink by half") {
    ModelConfig cfg = model_config("atto");
    cfg.input_size = 64;
    ModelOptions fp32, bf16;
    bf16.precision = Precision::kBf16;
    const int64_t N = 3;
    // the depthwise and LayerNorm outputs [R, C] and the pwconv1, GELU and GRN outputs [R, 4C] at 2
    // bytes less per value, and the stage's one branch output [R, C] its blocks share; less the bf16
    // copy of the largest d(pwconv1 output) [R, 4C] the backward writes
    double expected = 0, largest = 0;
    for (int s = 0; s < kStages; s++) {
        const int64_t R = N * cfg.stage_size(s) * cfg.stage_size(s);
        expected += (double)cfg.depths[s] * 2.0 * (double)(R * cfg.dims[s] * 14) + 2.0 * (double)(R * cfg.dims[s]);
        largest = std::max(largest, 2.0 * (double)(R * cfg.dims[s] * 4));
    }
    expected -= largest;
    // and the GEMM inputs of the stem (patches [T0, k*k*Cin]) and of each downsample ([R_prev, C_prev])
    expected += 2.0 * (double)(N * cfg.stage_size(0) * cfg.stage_size(0) * cfg.stem_stride * cfg.stem_stride * cfg.in_chans);
    for (int s = 1; s < kStages; s++) expected += 2.0 * (double)(N * cfg.stage_size(s - 1) * cfg.stage_size(s - 1) * cfg.dims[s - 1]);
    const double saved = (double)ConvNeXtV2::planned_bytes(cfg, N, fp32) - (double)ConvNeXtV2::planned_bytes(cfg, N, bf16);
    CHECK(saved >= 0.99 * expected);
    CHECK(saved <= 1.01 * expected);
}
