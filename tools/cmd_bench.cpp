// convnextv2 bench: median time of a whole step on synthetic data.
//   train: zero grads, forward, loss, backward, AdamW update (what bench/torch_baseline times)
//   infer: forward only
#include <algorithm>
#include <cstdio>
#include <vector>

#include "convnextv2/model.h"
#include "core/check.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "simd/kernels.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cnx {

int cmd_bench(const Argv& argv) {
    Args a("bench", argv);
    std::string model = a.str("model", "atto", "architecture");
    int64_t batch = a.integer("batch-size", 32, "images per step", 1, 65536);
    int64_t size = a.integer("input-size", 224, "input side", 1, 8192);
    std::string mode = a.str("mode", "train", "train or infer");
    int64_t steps = a.integer("steps", 10, "timed steps", 1, 100000);
    int64_t warmup = a.integer("warmup", 2, "untimed steps first", 0, 1000);
    int64_t classes = a.integer("classes", 1000, "number of classes", 1, 1000000);
    int64_t stride = a.integer("stem-stride", 4, "stem stride: 4, 2 or 1", 1, 4);
    int64_t chans = a.integer("in-chans", 3, "input channels: 1 or 3", 1, 3);
    double drop_path = a.number("drop-path", -1, "max drop-path rate (default: the paper's for the model)", -1, 1);
    int64_t threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    bool json = a.flag("json", "print one JSON object");
    bool verbose = a.flag("verbose", "log kernels and oneDNN implementations");
    if (a.help()) {
        std::printf("%s", a.usage("--model M --batch-size B --input-size S [--mode train|infer] [--steps N] [--json]").c_str());
        return 0;
    }
    a.finish();
    if (mode != "train" && mode != "infer") fail("bench: --mode must be train or infer (got '%s')", mode.c_str());
    set_num_threads((int)threads);
    ModelConfig cfg = model_config(model);
    cfg.input_size = (int)size;
    cfg.stem_stride = (int)stride;
    cfg.num_classes = (int)classes;
    cfg.in_chans = (int)chans;
    cfg.mean.assign((size_t)chans, 0.5f);
    cfg.std.assign((size_t)chans, 0.5f);
    cfg.validate();
    if (drop_path < 0) drop_path = (model == "atto" || model == "nano") ? 0.1 : model == "tiny" ? 0.2 : 0.0;
    const bool train = mode == "train";
    if (!train) drop_path = 0;

    ConvNeXtV2 net(cfg, batch, train);
    const ParamLayout& L = net.layout();
    FloatBuffer P((size_t)L.total), G, M, V;
    init_params(P.data(), L, 1);
    AdamW opt;
    if (train) {
        G.resize((size_t)L.total);
        M.resize((size_t)L.total);
        V.resize((size_t)L.total);
        opt.init(param_groups(L, 0.05f, 1.0f), AdamWConfig());
    }
    std::vector<float> images((size_t)(batch * size * size * chans));
    Rng rng(stream_key(7, kRngSynthetic));
    for (float& x : images) x = (float)rng.normal();
    std::vector<int32_t> labels((size_t)batch);
    for (int32_t& l : labels) l = (int32_t)rng.below((uint64_t)classes);
    if (verbose) std::fprintf(stderr, "%s\n%s", runtime_summary().c_str(), runtime_details(net.gemm_impl()).c_str());

    std::vector<double> times;
    double loss = 0;
    for (int64_t i = 0; i < warmup + steps; i++) {
        double t0 = now_seconds();
        if (train) {
            G.zero();
            const float* z = net.forward(P.data(), images.data(), (float)drop_path, stream_key(1, (uint64_t)i));
            loss = cross_entropy(net.dlogits(), z, labels.data(), batch, classes, 0.0f);
            net.backward(P.data(), G.data(), net.dlogits());
            opt.update(P.data(), M.data(), V.data(), G.data(), 1e-4f, i + 1);
        } else {
            net.forward(P.data(), images.data());
        }
        double dt = now_seconds() - t0;
        if (i >= warmup) times.push_back(dt);
        if (verbose) std::fprintf(stderr, "step %lld %s %.1f ms\n", (long long)i, i < warmup ? "warmup" : "timed", dt * 1e3);
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    size_t n = sorted.size();
    double med = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    double ips = (double)batch / med;
    if (json) {
        Json j = Json::object();
        j.set("model", model).set("mode", mode).set("batch", batch).set("input_size", size);
        j.set("threads", num_threads()).set("isa", isa_name(kernels().isa));
        j.set("steps", steps).set("ms_per_step", med * 1e3).set("images_per_s", ips);
        j.set("min_ms", sorted.front() * 1e3).set("max_ms", sorted.back() * 1e3);
        j.set("peak_rss_mb", peak_rss_mb());
        if (train) j.set("last_loss", loss);
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("%s %s, batch %lld, %lldx%lld: median %.1f ms/step, %.1f images/s, peak RSS %.0f MB (%s)\n",
                    model.c_str(), mode.c_str(), (long long)batch, (long long)size, (long long)size, med * 1e3, ips,
                    peak_rss_mb(), runtime_summary().c_str());
    }
    return 0;
}

}  // namespace cnx
