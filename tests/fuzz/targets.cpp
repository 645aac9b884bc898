#include "tests/fuzz/targets.h"

#include <string>
#include <vector>

#include "convnextv2/checkpoint.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/safetensors.h"
#include "core/pickle.h"
#include "core/torch_file.h"
#include "core/zip.h"
#include "tools/dataset.h"
#include "tools/augment.h"
#include "tools/image.h"
#include "tools/randaugment.h"
#include "tools/train.h"

namespace cnx {
namespace fuzz {

namespace {

std::string bytes_of(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// The IDX target's input: a 2-byte little-endian length, that many bytes of the image file, then the
// label file.
void split(const std::string& in, std::string& images, std::string& labels) {
    const size_t n = in.size() < 2 ? 0 : (size_t)(unsigned char)in[0] | (size_t)(unsigned char)in[1] << 8;
    images = in.size() < 2 ? "" : in.substr(2, n);
    labels = in.size() < 2 + n ? "" : in.substr(2 + n);
}

// The config a checkpoint describes, its layout checked against the file, and the parameters
// loaded when they are small enough to hold.
void load_checkpoint(const SafetensorsReader& f) {
    const std::string prefix = f.has("encoder.downsample_layers.0.0.weight") ? "encoder." : "";
    const ModelConfig cfg = read_config(f, prefix);
    const ParamLayout layout = make_param_layout(cfg, prefix.empty());
    check_params(f, layout, prefix, LoadMode::Backbone);
    if (layout.total > (1 << 24)) return;
    std::vector<float> params((size_t)layout.total);
    load_params(f, layout, params.data(), prefix, LoadMode::Backbone);
}

}  // namespace

void set_fuzz_limits() {
    InputLimits& l = input_limits();
    l.max_image_pixels = 1 << 22;      // 4 M pixels: 12 MB of RGB, well within the allocation cap
    l.max_dataset_bytes = 64u << 20;
    l.max_safetensors_entries = 4096;
}

int safetensors(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    try {
        SafetensorsReader f(bytes_of(data, size), "fuzz.safetensors");
        for (const SafetensorsEntry& e : f.entries()) {
            try {
                if (e.numel() <= (1 << 20)) f.read_f32(e.name);
            } catch (const Error&) {
            }
        }
        load_checkpoint(f);
    } catch (const Error&) {
    }
    return 0;
}

int json(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    try {
        const Json j = Json::parse(bytes_of(data, size), "fuzz.json");
        // What is written reads back as the same value.
        const std::string text = j.dump();
        CNX_CHECK(Json::parse(text, "round trip").dump() == text, "JSON does not round-trip");
        try {
            ModelConfig::from_json(j).to_json();
        } catch (const Error&) {
        }
        TrainOptions::from_json(j, "fuzz.json");
    } catch (const Error&) {
    }
    return 0;
}

int idx(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    std::string images, labels;
    split(bytes_of(data, size), images, labels);
    try {
        Dataset d = parse_idx_pair(images, labels, "images", "labels", "fuzz");
        CNX_CHECK((int64_t)d.pixels.size() == d.size() * d.height * d.width, "IDX pixels do not match the images");
    } catch (const Error&) {
    }
    return 0;
}

int cifar(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    try {
        Dataset d;
        parse_cifar_batch(bytes_of(data, size), "fuzz.bin", d);
        CNX_CHECK(d.pixels.size() == d.labels.size() * 3072, "CIFAR pixels do not match the labels");
    } catch (const Error&) {
    }
    return 0;
}

// A decoded image of any shape (1 x N included) through the training transforms of both kinds, with
// RandAugment and random erasing, and through evaluation.
static void transform_image(const Image& img, int channels, size_t seed) {
    Transform t;
    t.size = 16;
    t.channels = channels;
    t.mean.assign((size_t)channels, 0.5f);
    t.std.assign((size_t)channels, 0.25f);
    t.train = true;
    t.pad = 2;
    const uint8_t fill[3] = {124, 116, 104};
    t.aa = parse_rand_augment("rand-m9-mstd0.5-inc1", fill, Interpolation::Bicubic);
    t.erase_prob = 0.5f;
    std::vector<float> out((size_t)16 * 16 * channels);
    for (bool small : {true, false})
        for (bool train : {true, false}) {
            t.small_images = small;
            t.train = train;
            Rng rng(seed);
            apply_transform(out.data(), img, t, rng);
        }
}

int image(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    const std::string bytes = bytes_of(data, size);
    for (int channels : {3, 1}) {
        try {
            const ImageHeader h = decode_image_header(bytes, "fuzz.img");
            const Image img = decode_image(bytes, "fuzz.img", channels);
            CNX_CHECK(img.w == h.width && img.h == h.height, "decoded size differs from the header's");
            CNX_CHECK(img.pixels.size() == (size_t)img.w * img.h * channels, "pixels do not match the size");
            if ((int64_t)img.w * img.h <= 1 << 16) transform_image(img, channels, size);
        } catch (const Error&) {
        }
    }
    return 0;
}

int state(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    try {
        SafetensorsReader f(bytes_of(data, size), "fuzz-state.safetensors");
        const TrainOptions o = read_train_options(f);
        RunState::from_json(Json::parse(f.meta(kStateKey), "state"), 12, o.epochs, o.batch, "fuzz");
        load_checkpoint(f);
    } catch (const Error&) {
    }
    return 0;
}

int torch(const uint8_t* data, size_t size) {
    set_fuzz_limits();
    try {
        std::string bytes = bytes_of(data, size);
        if (!looks_like_zip(bytes)) {  // a bare pickle: the unpickler alone, past the archive's CRCs
            unpickle(bytes, "fuzz.pkl");
            return 0;
        }
        const SafetensorsReader f(official_weights(read_torch_state_dict(std::move(bytes), "fuzz.pt")).serialize(), "fuzz.pt");
        load_checkpoint(f);
    } catch (const Error&) {
    }
    return 0;
}

const Target kTargets[7] = {{"safetensors", safetensors}, {"json", json},   {"idx", idx},    {"cifar", cifar},
                            {"image", image},             {"state", state}, {"torch", torch}};

}  // namespace fuzz
}  // namespace cnx
