// Checkpoints: round trip, a PyTorch-written state_dict (no metadata) loads with its config inferred,
// clear errors for wrong files.
#include <doctest/doctest.h>

#include <cstring>

#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "core/check.h"
#include "core/fileio.h"
#include "tests/util.h"

using namespace cnx;

TEST_CASE("checkpoint round trip keeps config and every weight bit") {
    ModelConfig cfg = model_config("atto");
    cfg.num_classes = 7;
    cfg.in_chans = 1;
    cfg.stem_stride = 2;
    cfg.input_size = 32;
    cfg.mean = {0.25f};
    cfg.std = {0.5f};
    cfg.class_names = {"a", "b", "c", "d", "e", "f", "g"};
    ParamLayout L = make_param_layout(cfg);
    FloatBuffer P((size_t)L.total), Q((size_t)L.total);
    init_params(P.data(), L, 3);
    test::fill_formula(P.data(), L);  // every tensor distinct and non-trivial
    std::string dir = test::temp_dir("ckpt");
    std::string path = path_join(dir, "w.safetensors");
    save_weights(path, cfg, L, P.data());
    SafetensorsReader f(path);
    ModelConfig back = read_config(f);
    CHECK(back.to_json().dump() == cfg.to_json().dump());
    load_params(f, L, Q.data());
    CHECK(std::memcmp(P.data(), Q.data(), (size_t)L.total * sizeof(float)) == 0);
    // official names and shapes on disk
    CHECK(f.find("stages.2.5.dwconv.weight")->shape == std::vector<int64_t>{160, 1, 7, 7});
    CHECK(f.find("stages.0.0.grn.gamma")->shape == std::vector<int64_t>{1, 1, 1, 160});
    CHECK(f.find("downsample_layers.0.0.weight")->shape == std::vector<int64_t>{40, 1, 2, 2});
    CHECK(f.find("head.weight")->shape == std::vector<int64_t>{7, 320});
    CHECK(f.entries().size() == 140);
}

TEST_CASE("a PyTorch state_dict without metadata loads: config from shapes, same logits as PyTorch") {
    SafetensorsReader f(test::fixture_path("tiny_state_dict.safetensors"));
    CHECK(f.metadata().empty());
    ModelConfig cfg = read_config(f);
    CHECK(cfg.name == "custom");
    CHECK(cfg.in_chans == 3);
    CHECK(cfg.stem_stride == 2);
    CHECK(cfg.num_classes == 5);
    CHECK(cfg.depths[2] == 2);
    CHECK(cfg.dims[3] == 32);
    cfg.input_size = 32;
    ConvNeXtV2 net(cfg, 3, false);
    FloatBuffer P((size_t)net.layout().total);
    LoadReport rep = load_params(f, net.layout(), P.data());
    CHECK(rep.loaded == (int)net.layout().tensors.size());
    SafetensorsReader fx(test::fixture_path("tiny.safetensors"));
    std::vector<float> images = fx.read_f32("images"), want = fx.read_f32("logits");
    const float* z = net.forward(P.data(), images.data());
    CHECK_CLOSE(test::compare(z, want.data(), (int64_t)want.size(), 1e-4, 1e-4), z, want.data());
}

TEST_CASE("named models are recognised from their shapes") {
    ModelConfig cfg = model_config("femto");
    ParamLayout L = make_param_layout(cfg);
    FloatBuffer P((size_t)L.total);
    SafetensorsWriter w;
    add_params(w, L, P.data());  // no metadata
    SafetensorsReader f(w.serialize(), "femto.safetensors");
    ModelConfig got = read_config(f);
    CHECK(got.name == "femto");
    CHECK(got.num_classes == 1000);
    CHECK(got.input_size == 224);
}

TEST_CASE("loading reports wrong or missing tensors by name") {
    ModelConfig atto = model_config("atto");
    ParamLayout La = make_param_layout(atto);
    FloatBuffer P((size_t)La.total);
    SafetensorsWriter w;
    add_params(w, La, P.data());
    SafetensorsReader f(w.serialize(), "atto.safetensors");
    ParamLayout Lf = make_param_layout(model_config("femto"));
    FloatBuffer Q((size_t)Lf.total);
    CHECK_THROWS_WITH_AS(load_params(f, Lf, Q.data()),
                         doctest::Contains("atto.safetensors: tensor 'downsample_layers.0.0.weight' has shape (40, 3, 4, 4), the model needs (48, 3, 4, 4)"),
                         Error);
    // a head of another size is skipped in backbone mode (fine-tuning to new classes)
    ModelConfig ten = atto;
    ten.num_classes = 10;
    ParamLayout L10 = make_param_layout(ten);
    FloatBuffer R((size_t)L10.total);
    LoadReport rep = load_params(f, L10, R.data(), "", LoadMode::Backbone);
    CHECK(rep.skipped == std::vector<std::string>{"head.weight", "head.bias"});
    CHECK_THROWS_WITH_AS(load_params(f, L10, R.data()), doctest::Contains("head.weight"), Error);
    // a file that is not a checkpoint
    SafetensorsWriter other;
    other.add("foo", {1}, std::vector<float>{1});
    SafetensorsReader g(other.serialize(), "other.safetensors");
    CHECK_THROWS_WITH_AS(read_config(g), doctest::Contains("other.safetensors: tensor 'downsample_layers.0.0.weight' not found"), Error);
}
