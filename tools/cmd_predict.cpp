// convnextv2 predict: classify image files. Each image is read as RGB (or grayscale for a
// 1-channel model), its shorter side resized to the input size (bilinear), centre-cropped, scaled
// to [0,1] and normalised with the checkpoint's mean/std.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/json.h"
#include "nn/parallel.h"
#include "tools/args.h"
#include "tools/augment.h"
#include "tools/commands.h"

namespace cnx {

int cmd_predict(const Argv& argv) {
    Args a("predict", argv);
    std::string weights = a.str("weights", "", "checkpoint (.safetensors)");
    int64_t top = a.integer("top", 5, "classes to show per image", 1, kMaxClasses);
    int64_t size = a.integer("input-size", 0, "input side (default: the checkpoint's)", 0, kMaxInputSize);
    int64_t threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    bool json = a.flag("json", "one JSON object per image: file, logits, top (label, probability)");
    max_image_pixels_flag(a);
    const std::string precision_given = precision_flag(a);
    if (a.help()) {
        std::printf("%s", a.usage("--weights CKPT [--top K] [--json] IMAGE...").c_str());
        return 0;
    }
    a.finish(true);
    const Precision precision = parse_precision(precision_given);
    std::vector<std::string> files = a.positional();
    if (weights.empty()) fail("predict: --weights CKPT is required");
    if (files.empty()) fail("predict: no image files given");
    apply_threads(threads);
    SafetensorsReader f = open_weights(weights);
    const ModelConfig cfg = checkpoint_config(f, size);
    const int64_t K = cfg.num_classes;
    top = std::min<int64_t>(top, K);
    const int64_t B = std::min<int64_t>(16, (int64_t)files.size());
    InferenceModel model(f, cfg, B, precision);
    ConvNeXtV2& net = model.net;
    const Transform t = eval_transform(cfg, false);  // shorter side to the input size, centre crop
    const size_t per = (size_t)t.size * t.size * t.channels;
    std::vector<float> images((size_t)B * per, 0.0f);
    auto label = [&](int64_t k) { return k < (int64_t)cfg.class_names.size() ? cfg.class_names[(size_t)k] : std::to_string(k); };
    for (size_t b0 = 0; b0 < files.size(); b0 += (size_t)B) {
        const size_t n = std::min(files.size() - b0, (size_t)B);
        for (size_t i = 0; i < n; i++) {
            Rng unused(0);
            apply_transform(images.data() + i * per, read_image(files[b0 + i], cfg.in_chans), t, unused);
        }
        const float* z = net.forward(model.weights(), images.data());
        for (size_t i = 0; i < n; i++) {
            const float* l = z + i * (size_t)K;
            if (find_non_finite(l, K) >= 0)
                fail("%s: the model's output is not finite (NaN or infinite logits); the weights are unusable for this image",
                     files[b0 + i].c_str());
            double mx = *std::max_element(l, l + K), se = 0;
            for (int64_t k = 0; k < K; k++) se += std::exp((double)l[k] - mx);
            std::vector<int64_t> order((size_t)K);
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return l[x] > l[y]; });
            if (json) {
                Json j = Json::object();
                j.set("file", files[b0 + i]);
                Json logits = Json::array();
                for (int64_t k = 0; k < K; k++) logits.push(l[k]);
                j.set("logits", logits);
                Json tops = Json::array();
                for (int64_t r = 0; r < top; r++) {
                    const int64_t k = order[(size_t)r];
                    Json o = Json::object();
                    o.set("label", label(k)).set("index", k).set("probability", std::exp((double)l[k] - mx) / se);
                    tops.push(o);
                }
                j.set("top", tops);
                std::printf("%s\n", j.dump().c_str());
            } else {
                std::printf("%s:", files[b0 + i].c_str());
                for (int64_t r = 0; r < top; r++) {
                    const int64_t k = order[(size_t)r];
                    std::printf("%s %s (%.1f%%)", r ? "," : "", label(k).c_str(), 100.0 * std::exp((double)l[k] - mx) / se);
                }
                std::printf("\n");
            }
        }
    }
    return 0;
}

}  // namespace cnx
