// convnextv2 eval: top-1/top-5 accuracy and loss of a checkpoint on a dataset's test split.
#include <cstdio>

#include "convnextv2/checkpoint.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/json.h"
#include "nn/parallel.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/train.h"

namespace cnx {

void dataset_flags(Args& a, DatasetOptions& d);  // tools/cmd_train.cpp

int cmd_eval(const Argv& argv) {
    Args a("eval", argv);
    std::string weights = a.str("weights", "", "checkpoint (.safetensors)");
    DatasetOptions d;
    dataset_flags(a, d);
    int64_t batch = a.integer("batch-size", 250, "images per step", 1, 65536);
    int64_t size = a.integer("input-size", 0, "input side (default: the checkpoint's)", 0, kMaxInputSize);
    int64_t threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    bool json = a.flag("json", "print one JSON object");
    const std::string precision_given = precision_flag(a);
    const ResizeFlags resize = resize_flags(a);
    if (a.help()) {
        std::printf("%s", a.usage("--weights CKPT [--dataset D] [--data DIR] [--json]").c_str());
        return 0;
    }
    a.finish();
    const Precision precision = parse_precision(precision_given);
    if (weights.empty()) fail("eval: --weights CKPT is required");
    apply_threads(threads);
    SafetensorsReader f = open_weights(weights);
    const ModelConfig cfg = checkpoint_config(f, size);
    d.folder_channels = cfg.in_chans;
    DataSplits data = load_dataset(d);
    const Dataset& test = data.test;
    if (test.channels != cfg.in_chans)
        fail("%s has %d-channel images but the model takes %d channels", test.name.c_str(), test.channels, cfg.in_chans);
    if (test.num_classes > cfg.num_classes)
        fail("%s has %d classes but the model predicts %d", test.name.c_str(), test.num_classes, cfg.num_classes);
    batch = std::min<int64_t>(batch, test.size());
    InferenceModel model(f, cfg, batch, precision);
    Transform t = eval_transform(cfg, test.small_images);
    apply_resize_flags(resize, f, t);
    EvalResult r = evaluate(model.net, model.weights(), test, t);
    const int64_t K = r.classes;
    auto name = [&](int64_t k) { return k < (int64_t)cfg.class_names.size() ? cfg.class_names[(size_t)k] : std::to_string(k); };
    auto images_of = [&](int64_t k) {
        int64_t n = 0;
        for (int64_t c = 0; c < K; c++) n += r.confusion[(size_t)(k * K + c)];
        return n;
    };
    if (json) {
        Json j = Json::object();
        j.set("weights", weights).set("dataset", test.name).set("images", r.count);
        j.set("top1", r.top1).set("top5", r.top5).set("loss", r.loss).set("precision", precision_name(precision));
        Json per = Json::array(), conf = Json::array();
        for (int64_t k = 0; k < K; k++) {
            const int64_t n = images_of(k);
            Json c = Json::object();
            c.set("class", name(k)).set("images", n);
            if (n > 0) c.set("top1", (double)r.confusion[(size_t)(k * K + k)] / (double)n);
            per.push(c);
            Json row = Json::array();
            for (int64_t p = 0; p < K; p++) row.push(Json(r.confusion[(size_t)(k * K + p)]));
            conf.push(row);
        }
        j.set("per_class", per).set("confusion", conf);
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    std::printf("%s on %s (%lld images): top-1 %.2f%%, top-5 %.2f%%, loss %.4f\n", weights.c_str(), test.name.c_str(),
                (long long)r.count, 100 * r.top1, 100 * r.top5, r.loss);
    std::printf("\nper class (top-1):\n");
    for (int64_t k = 0; k < K; k++) {
        const int64_t n = images_of(k);
        if (n > 0)
            std::printf("  %-20s %6.2f%%  (%lld images)\n", name(k).c_str(), 100.0 * (double)r.confusion[(size_t)(k * K + k)] / (double)n,
                        (long long)n);
    }
    if (K > 20) {
        std::printf("\n(the %lldx%lld confusion matrix is in --json)\n", (long long)K, (long long)K);
        return 0;
    }
    std::printf("\nconfusion (rows: true class, columns: predicted):\n%-20s", "");
    for (int64_t p = 0; p < K; p++) std::printf(" %6lld", (long long)p);
    for (int64_t k = 0; k < K; k++) {
        std::printf("\n%2lld %-17s", (long long)k, name(k).substr(0, 17).c_str());
        for (int64_t p = 0; p < K; p++) std::printf(" %6lld", (long long)r.confusion[(size_t)(k * K + p)]);
    }
    std::printf("\n");
    return 0;
}

}  // namespace cnx
