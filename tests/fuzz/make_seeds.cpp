// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): small valid inputs of
// each format, so that fuzzing starts from files that reach deep into the parsers. Run by
// `make fuzz-seeds`; the output is committed.
#include <cstdio>
#include <string>
#include <vector>

#include <zlib.h>

#include "convnextv2/checkpoint.h"
#include "convnextv2/params.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tests/data_files.h"
#include "tools/image.h"
#include "tools/train.h"

using namespace cnx;
using test::be32;

namespace {

std::string dir_of(const std::string& target) {
    const std::string d = path_join("tests/fuzz/corpus", target);
    make_dirs(d);
    return d;
}

void put(const std::string& target, const std::string& name, const std::string& bytes) {
    write_file_atomic(path_join(dir_of(target), name), bytes);
}

// The smallest model the config allows: one block of width 2 per stage, 1 channel in, 3 classes.
ModelConfig tiny_config() {
    ModelConfig c;
    c.name = "custom";
    for (int s = 0; s < kStages; s++) {
        c.depths[s] = 1;
        c.dims[s] = 2 * (s + 1);
    }
    c.num_classes = 3;
    c.in_chans = 1;
    c.stem_stride = 1;
    c.input_size = 8;
    c.mean = {0.5f};
    c.std = {0.5f};
    return c;
}

std::vector<float> ramp(int64_t n) {
    std::vector<float> v((size_t)n);
    for (int64_t i = 0; i < n; i++) v[(size_t)i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
    return v;
}

std::string gzip(const std::string& data) {
    std::string out(compressBound((uLong)data.size()) + 64, '\0');
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 15 + 16: a gzip wrapper
    z.next_in = (Bytef*)data.data();
    z.avail_in = (uInt)data.size();
    z.next_out = (Bytef*)&out[0];
    z.avail_out = (uInt)out.size();
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// safetensors: a checkpoint with metadata, the same without (config from shapes), an FCMAE-style
// encoder checkpoint, a tensor of each dtype.
void safetensors_seeds(const ModelConfig& cfg, const ParamLayout& layout, const std::vector<float>& params) {
    SafetensorsWriter w;
    w.set_metadata(kConfigKey, cfg.to_json().dump());
    add_params(w, layout, params.data());
    put("safetensors", "checkpoint.safetensors", w.serialize());
    SafetensorsWriter bare;
    add_params(bare, layout, params.data());
    put("safetensors", "state_dict.safetensors", bare.serialize());
    const ParamLayout enc = make_param_layout(cfg, false);
    SafetensorsWriter e;
    add_params(e, enc, ramp(enc.total).data(), "encoder.");
    e.add("mask_token", {1, 4, 1, 1}, ramp(4));
    put("safetensors", "encoder.safetensors", e.serialize());

    std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"c":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
                         R"("d":{"dtype":"I8","shape":[],"data_offsets":[16,17]}})";
    std::string n(8, '\0');
    for (int i = 0; i < 8; i++) n[(size_t)i] = (char)((header.size() >> (8 * i)) & 0xff);
    put("safetensors", "dtypes.safetensors", n + header + std::string("\x00\x3c\x00\xc0\x80\x3f\x00\x40", 8) +
                                                 std::string("\x00\x00\x00\x00\x00\x00\xf0\x3f", 8) + "\x05");
}

// state: a run's state file for the tiny model (recipe, run state, weights; moments and EMA left out
// to keep the seed small: they load as the weights do); its recipe and run state as JSON seeds.
void state_seeds(const ModelConfig& cfg, const ParamLayout& layout, const std::vector<float>& params) {
    TrainOptions o;
    o.model = "atto";
    o.data.kind = "synthetic";
    o.epochs = 2;
    o.batch = 4;
    o.ema = 0.9;
    RunState rs;
    rs.step = 13;
    rs.threads = 2;
    rs.epoch_seen = 4;
    rs.epoch_correct = 1;
    rs.epoch_loss_sum = 1.25;
    rs.first_loss_sum = 12.5;
    rs.first_loss_n = 10;
    rs.has_best = true;
    rs.best_score = 0.5;
    SafetensorsWriter w;
    w.set_metadata(kConfigKey, cfg.to_json().dump());
    w.set_metadata(kOptionsKey, o.to_json().dump());
    w.set_metadata(kStateKey, rs.to_json().dump());
    add_params(w, layout, params.data());
    put("state", "state.safetensors", w.serialize());
    put("json", "options.json", o.to_json().dump());
    put("json", "run_state.json", rs.to_json().dump());
}

// json: a model config, a metrics line, escapes and nesting.
void json_seeds(const ModelConfig& cfg) {
    put("json", "config.json", cfg.to_json().dump());
    put("json", "metrics.json", R"({"epoch":3,"step":1404,"lr":0.00123,"train_loss":0.4512,"test_acc":0.9080,"ema_test_acc":null})");
    put("json", "strings.json", R"(["a\"b\\c\/\b\f\n\r\t", "\u00e9\ud83d\ude00", -1.5e-7, 123456789012, true, false, {}, [[]]])");
}

// idx: a 2-byte length of the image file, the image file, the label file (see targets.cpp).
void idx_seeds() {
    std::string images = be32(0x803) + be32(3) + be32(4) + be32(5), labels = be32(0x801) + be32(3);
    for (int i = 0; i < 3 * 4 * 5; i++) images += (char)(i * 11 % 256);
    labels += std::string("\x00\x02\x01", 3);
    auto pair = [](const std::string& a, const std::string& b) {
        return std::string(1, (char)(a.size() & 0xff)) + std::string(1, (char)(a.size() >> 8)) + a + b;
    };
    put("idx", "plain", pair(images, labels));
    put("idx", "gzip", pair(gzip(images), gzip(labels)));
    put("idx", "gzip_images", pair(gzip(images), labels));
}

// cifar: two records.
void cifar_seeds() {
    std::string rec;
    for (int r = 0; r < 2; r++) {
        rec += (char)(r * 7);
        for (int p = 0; p < 3072; p++) rec += (char)((p * 13 + r) % 256);
    }
    put("cifar", "two_records.bin", rec);
}

// image: PNG RGB and gray, JPEG baseline RGB and progressive gray.
void image_seeds() {
    const std::string d = dir_of("image");
    write_png(path_join(d, "rgb.png"), test::noise_image(6, 7, 3));
    write_png(path_join(d, "gray.png"), test::noise_image(5, 9, 1));
    test::JpegOptions baseline, progressive;
    baseline.quality = progressive.quality = 80;
    progressive.progressive = true;
    put("image", "rgb.jpg", test::encode_jpeg(test::noise_image(9, 10, 3), baseline));
    put("image", "gray_progressive.jpg", test::encode_jpeg(test::noise_image(17, 12, 1), progressive));
}

}  // namespace

int main() {
    const ModelConfig cfg = tiny_config();
    const ParamLayout layout = make_param_layout(cfg);
    const std::vector<float> params = ramp(layout.total);
    safetensors_seeds(cfg, layout, params);
    state_seeds(cfg, layout, params);
    json_seeds(cfg);
    idx_seeds();
    cifar_seeds();
    image_seeds();
    std::printf("seeds written to tests/fuzz/corpus/\n");
    return 0;
}
