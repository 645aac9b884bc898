// convnextv2 predict: classify images (files, folders, a list file) in batches. Each image is read
// as RGB (or grayscale for a 1-channel model), its shorter side resized to the input size
// (bilinear), centre-cropped, scaled to [0,1] and normalised with the checkpoint's mean/std.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/timer.h"
#include "nn/parallel.h"
#include "tools/args.h"
#include "tools/augment.h"
#include "tools/commands.h"
#include "tools/dataset.h"
#include "tools/image.h"
#include "tools/progress.h"

namespace cnx {

namespace {

// The images named on the command line: files as given, folders by their images (recursively),
// and the lines of a list file (blank lines and '#' comments skipped).
std::vector<std::string> collect_images(const std::vector<std::string>& args, const std::string& list) {
    std::vector<std::string> files;
    for (const std::string& a : args) {
        if (!is_directory(a)) {
            files.push_back(a);
            continue;
        }
        const std::vector<std::string> in = image_files_in(a);
        if (in.empty()) fail("%s: a folder without PNG or JPEG images", a.c_str());
        files.insert(files.end(), in.begin(), in.end());
    }
    if (!list.empty()) {
        const std::string text = read_file(list);
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::string line = text.substr(start, end - start);
            start = end + 1;
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (!line.empty() && line[0] != '#') files.push_back(line);
        }
    }
    return files;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

// One image's result in the chosen format: text, json (one object per line) or csv.
void print_result(const std::string& format, const std::string& file, const float* l, int64_t K, int64_t top,
                  const std::vector<std::string>& names) {
    auto label = [&](int64_t k) { return k < (int64_t)names.size() ? names[(size_t)k] : std::to_string(k); };
    double mx = *std::max_element(l, l + K), se = 0;
    for (int64_t k = 0; k < K; k++) se += std::exp((double)l[k] - mx);
    auto prob = [&](int64_t k) { return std::exp((double)l[k] - mx) / se; };
    std::vector<int64_t> order((size_t)K);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return l[x] > l[y]; });
    if (format == "json") {
        Json j = Json::object(), logits = Json::array(), tops = Json::array();
        for (int64_t k = 0; k < K; k++) logits.push(l[k]);
        for (int64_t r = 0; r < top; r++) {
            const int64_t k = order[(size_t)r];
            Json o = Json::object();
            o.set("label", label(k)).set("index", k).set("probability", prob(k));
            tops.push(o);
        }
        j.set("file", file).set("logits", logits).set("top", tops);
        std::printf("%s\n", j.dump().c_str());
    } else if (format == "csv") {
        std::printf("%s", csv_field(file).c_str());
        for (int64_t r = 0; r < top; r++) std::printf(",%s,%.6f", csv_field(label(order[(size_t)r])).c_str(), prob(order[(size_t)r]));
        std::printf("\n");
    } else {
        std::printf("%s:", file.c_str());
        for (int64_t r = 0; r < top; r++)
            std::printf("%s %s (%.1f%%)", r ? "," : "", label(order[(size_t)r]).c_str(), 100.0 * prob(order[(size_t)r]));
        std::printf("\n");
    }
}

}  // namespace

int cmd_predict(const Argv& argv) {
    Args a("predict", argv);
    std::string weights = a.str("weights", "", "checkpoint (.safetensors, or a PyTorch .pt/.pth)");
    int64_t top = a.integer("top", 5, "classes to show per image", 1, kMaxClasses);
    int64_t size = a.integer("input-size", 0, "input side (default: the checkpoint's)", 0, kMaxInputSize);
    const int64_t batch = a.integer("batch-size", 32, "images per forward pass", 1, 4096);
    const std::string list = a.str("list", "", "a file naming one image per line (with or instead of IMAGE...)");
    std::string format = a.str("format", "text", "text, json (one object per line: file, logits, top) or csv");
    const bool json = a.flag("json", "same as --format json");
    int64_t threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    max_image_pixels_flag(a);
    const std::string precision_given = precision_flag(a);
    const ResizeFlags resize = resize_flags(a);
    if (a.help()) {
        std::printf("%s", a.usage("--weights CKPT [--top K] [--format text|json|csv] [--list FILE] IMAGE|FOLDER...").c_str());
        return 0;
    }
    a.finish(true);
    const Precision precision = parse_precision(precision_given);
    if (json) format = "json";
    if (format != "text" && format != "json" && format != "csv") fail("predict: --format must be text, json or csv (got '%s')", format.c_str());
    if (weights.empty()) fail("predict: --weights CKPT is required");
    const std::vector<std::string> files = collect_images(a.positional(), list);
    if (files.empty()) fail("predict: no images given (files, folders or --list FILE)");
    apply_threads(threads);
    SafetensorsReader f = open_weights(weights);
    const ModelConfig cfg = checkpoint_config(f, size);
    const int64_t K = cfg.num_classes;
    top = std::min<int64_t>(top, K);
    const int64_t B = std::min<int64_t>(batch, (int64_t)files.size());
    InferenceModel model(f, cfg, B, precision);
    Transform t = eval_transform(cfg, false);
    apply_resize_flags(resize, f, t);
    const size_t per = (size_t)t.size * t.size * t.channels;
    std::vector<float> images((size_t)B * per, 0.0f);
    if (format == "csv") {
        std::printf("file");
        for (int64_t r = 1; r <= top; r++) std::printf(",label%lld,probability%lld", (long long)r, (long long)r);
        std::printf("\n");
    }
    Progress progress;
    const double t0 = now_seconds();
    for (size_t b0 = 0; b0 < files.size(); b0 += (size_t)B) {
        const size_t n = std::min(files.size() - b0, (size_t)B);
        for (size_t i = 0; i < n; i++) {
            Rng unused(0);
            apply_transform(images.data() + i * per, read_image(files[b0 + i], cfg.in_chans), t, unused);
        }
        const float* z = model.net.forward(model.weights(), images.data());
        for (size_t i = 0; i < n; i++) {
            const float* l = z + i * (size_t)K;
            if (find_non_finite(l, K) >= 0)
                fail("%s: the model's output is not finite (NaN or infinite logits); the weights are unusable for this image",
                     files[b0 + i].c_str());
            print_result(format, files[b0 + i], l, K, top, cfg.class_names);
        }
        std::fflush(stdout);
        const double ips = (double)(b0 + n) / std::max(now_seconds() - t0, 1e-9);
        if (files.size() > (size_t)B)
            progress.update(strfmt("predict: %zu/%zu images, %.0f images/s, ETA %s", b0 + n, files.size(), ips,
                                   format_duration((double)(files.size() - b0 - n) / ips).c_str()),
                            b0 + n == files.size());
    }
    progress.done();
    if (files.size() > (size_t)B)
        std::fprintf(stderr, "%zu images in %s, %.1f images/s\n", files.size(), format_duration(now_seconds() - t0).c_str(),
                     (double)files.size() / std::max(now_seconds() - t0, 1e-9));
    return 0;
}

}  // namespace cnx
