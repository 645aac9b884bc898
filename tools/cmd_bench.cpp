// convnextv2 bench: median time of a whole step on synthetic data.
//   train:    zero grads, forward, loss, backward, AdamW update (what bench/torch_baseline times)
//   infer:    forward only
//   pretrain: FCMAE step: draw a mask, masked encoder, decoder, loss, backward, AdamW; the encoder's
//             share (forward + backward) is reported beside the whole step
#include <algorithm>
#include <cstdio>
#include <vector>

#include "convnextv2/fcmae.h"
#include "convnextv2/model.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/allreduce.h"
#include "nn/convert.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "simd/kernels.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/data_parallel.h"

namespace cnx {

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct BenchOptions {
    std::string mode = "train";  // train, infer or pretrain
    int64_t batch = 32, steps = 10, warmup = 2;  // batch: this rank's share of global_batch
    int64_t global_batch = 32;
    double mask_ratio = 0.6;
    double drop_path = -1;       // -1: the paper's for the model
    Precision precision = Precision::kFp32;
    bool json = false, verbose = false;
};

// Under mpirun, a training step's gradient all-reduce as in training (nn/allreduce.h), and its cost:
// a blocking all-reduce of the whole gradient buffer against what finish() still waited for.
class BenchAllreduce {
public:
    template <class Net>
    BenchAllreduce(Net& net, const ParamLayout& L, int64_t local_batch) {
        if (dist_size() == 1) return;
        allreduce_.reset(new GradientAllreduce(L.tensor_spans(), kGradientBucketFloats));
        net.set_grad_ready(allreduce_->ready_hook());
        net.set_first_sample(local_batch * dist_rank());
    }
    void begin(float* grads) {
        if (allreduce_) allreduce_->begin_step(grads);
    }
    void finish(bool timed) {
        if (!allreduce_) return;
        allreduce_->finish();
        if (timed) exposed_.push_back(allreduce_->exposed_seconds());
    }
    // After the timed steps: the blocking all-reduce of n gradients, median of 5.
    void measure(float* grads, int64_t n) {
        if (!allreduce_) return;
        std::vector<double> t;
        for (int i = 0; i < 5; i++) {
            dist_barrier();
            const double t0 = now_seconds();
            DistSum sum;
            sum.start(grads, n);
            sum.wait();
            t.push_back(now_seconds() - t0);
        }
        blocking_s_ = median(t);
    }
    void report(Json& j) const {
        if (dist_size() == 1) return;
        j.set("ranks", dist_size());
        if (!allreduce_ || exposed_.empty()) return;
        j.set("allreduce_ms", blocking_s_ * 1e3).set("allreduce_exposed_ms", median(exposed_) * 1e3);
        j.set("allreduce_hidden", hidden());
    }
    std::string summary() const {
        if (dist_size() == 1) return "";
        if (!allreduce_ || exposed_.empty()) return strfmt(", %d ranks", dist_size());
        return strfmt(", %d ranks: gradient all-reduce %.1f ms blocking, %.1f ms left after backward (%.0f%% hidden)",
                      dist_size(), blocking_s_ * 1e3, median(exposed_) * 1e3, 100 * hidden());
    }

private:
    double hidden() const { return blocking_s_ > 0 ? std::max(0.0, 1.0 - median(exposed_) / blocking_s_) : 0.0; }
    std::unique_ptr<GradientAllreduce> allreduce_;
    std::vector<double> exposed_;
    double blocking_s_ = 0;
};

// bf16 precision: the weights' bf16 copy, kept by the optimizer as in training (empty in fp32).
static std::vector<bf16> bf16_weights(const FloatBuffer& params, Precision precision) {
    if (precision != Precision::kBf16) return {};
    return bf16_copy(params.data(), (int64_t)params.size());
}

// Normal noise images [batch][size][size][channels], the same every run.
static std::vector<float> synthetic_images(const ModelConfig& cfg, int64_t batch, Rng& rng) {
    std::vector<float> images((size_t)(batch * cfg.input_size * cfg.input_size * cfg.in_chans));
    for (float& x : images) x = (float)rng.normal();
    return images;
}

static int bench_pretrain(const ModelConfig& cfg, const BenchOptions& b) {
    const int64_t batch = b.batch, size = cfg.input_size;
    Fcmae net(cfg, batch, b.mask_ratio, true, b.precision);
    const ParamLayout& L = net.layout().all;
    FloatBuffer params((size_t)L.total), grads((size_t)L.total), exp_avg((size_t)L.total), exp_avg_sq((size_t)L.total);
    init_params(params.data(), L, 1);
    AdamW opt;
    opt.init(fcmae_param_groups(net.layout(), 0.05f), AdamWConfig{0.9, 0.95, 1e-8});
    std::vector<bf16> params16 = bf16_weights(params, b.precision);
    BenchAllreduce allreduce(net, L, batch);
    Rng rng(stream_key(7, kRngSynthetic));
    const std::vector<float> images = synthetic_images(cfg, batch, rng);
    if (b.verbose) std::fprintf(stderr, "%s\n%s", runtime_summary().c_str(), runtime_details(net.encoder().gemm_impl()).c_str());
    std::vector<double> times, enc_times;
    double loss = 0;
    for (int64_t i = 0; i < b.warmup + b.steps; i++) {
        double t0 = now_seconds();
        grads.zero();
        allreduce.begin(grads.data());
        net.draw_mask(stream_key(3, (uint64_t)i));
        const Weights w(params.data(), params16.empty() ? nullptr : params16.data());
        loss = net.forward(w, images.data());
        net.backward(w, grads.data());
        allreduce.finish(i >= b.warmup);
        opt.update(params.data(), exp_avg.data(), exp_avg_sq.data(), grads.data(), 1e-4, i + 1,
                   params16.empty() ? nullptr : params16.data());
        double dt = now_seconds() - t0;
        if (i >= b.warmup) {
            times.push_back(dt);
            enc_times.push_back(net.encoder_seconds());
        }
        if (b.verbose)
            std::fprintf(stderr, "step %lld %s %.1f ms (encoder %.1f ms)\n", (long long)i, i < b.warmup ? "warmup" : "timed",
                         dt * 1e3, net.encoder_seconds() * 1e3);
    }
    allreduce.measure(grads.data(), L.total);
    const double med = median(times), enc = median(enc_times);
    if (b.json) {
        Json j = Json::object();
        j.set("model", cfg.name).set("mode", "pretrain").set("mask_ratio", b.mask_ratio).set("batch", b.global_batch).set("input_size", size);
        j.set("threads", num_threads()).set("isa", isa_name(kernels().isa)).set("steps", b.steps);
        j.set("precision", precision_name(b.precision));
        j.set("ms_per_step", med * 1e3).set("images_per_s", (double)b.global_batch / med).set("encoder_ms", enc * 1e3);
        j.set("peak_rss_mb", peak_rss_mb()).set("last_loss", loss);
        allreduce.report(j);
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("%s pretrain (mask ratio %.2f, %s), batch %lld, %lldx%lld: median %.1f ms/step (encoder fwd+bwd %.1f ms), %.1f images/s, peak RSS %.0f MB (%s)%s\n",
                    cfg.name.c_str(), b.mask_ratio, precision_name(b.precision), (long long)b.global_batch, (long long)size, (long long)size, med * 1e3, enc * 1e3,
                    (double)b.global_batch / med, peak_rss_mb(), runtime_summary().c_str(), allreduce.summary().c_str());
    }
    return 0;
}

// A supervised training step (mode train) or a forward pass (mode infer).
static int bench_classifier(const ModelConfig& cfg, const BenchOptions& b) {
    const std::string& model = cfg.name;
    const int64_t batch = b.batch, size = cfg.input_size, classes = cfg.num_classes;
    const bool train = b.mode == "train";
    double drop_path = b.drop_path >= 0 ? b.drop_path : (model == "atto" || model == "nano") ? 0.1 : model == "tiny" ? 0.2 : 0.0;
    if (!train) drop_path = 0;
    ModelOptions mo{train};
    mo.precision = b.precision;
    ConvNeXtV2 net(cfg, batch, mo);
    const ParamLayout& L = net.layout();
    FloatBuffer params((size_t)L.total), grads, exp_avg, exp_avg_sq;
    init_params(params.data(), L, 1);
    AdamW opt;
    if (train) {
        grads.resize((size_t)L.total);
        exp_avg.resize((size_t)L.total);
        exp_avg_sq.resize((size_t)L.total);
        opt.init(param_groups(L, 0.05f, 1.0f), AdamWConfig());
    }
    std::vector<bf16> params16 = bf16_weights(params, b.precision);
    BenchAllreduce allreduce(net, L, batch);
    Rng rng(stream_key(7, kRngSynthetic));
    const std::vector<float> images = synthetic_images(cfg, batch, rng);
    std::vector<int32_t> labels((size_t)batch);
    for (int32_t& l : labels) l = (int32_t)rng.below((uint64_t)classes);
    if (b.verbose) std::fprintf(stderr, "%s\n%s", runtime_summary().c_str(), runtime_details(net.gemm_impl()).c_str());

    std::vector<double> times;
    double loss = 0;
    for (int64_t i = 0; i < b.warmup + b.steps; i++) {
        double t0 = now_seconds();
        const Weights w(params.data(), params16.empty() ? nullptr : params16.data());
        if (train) {
            grads.zero();
            allreduce.begin(grads.data());
            const float* z = net.forward(w, images.data(), (float)drop_path, stream_key(1, (uint64_t)i));
            loss = cross_entropy(net.dlogits(), z, labels.data(), batch, classes, 0.0f);
            net.backward(w, grads.data(), net.dlogits());
            allreduce.finish(i >= b.warmup);
            opt.update(params.data(), exp_avg.data(), exp_avg_sq.data(), grads.data(), 1e-4f, i + 1,
                       params16.empty() ? nullptr : params16.data());
        } else {
            net.forward(w, images.data());
        }
        double dt = now_seconds() - t0;
        if (i >= b.warmup) times.push_back(dt);
        if (b.verbose) std::fprintf(stderr, "step %lld %s %.1f ms\n", (long long)i, i < b.warmup ? "warmup" : "timed", dt * 1e3);
    }
    if (train) allreduce.measure(grads.data(), L.total);
    dist_barrier();  // inference: every rank's steps are done
    const double med = median(times), ips = (double)b.global_batch / med;
    if (b.json) {
        Json j = Json::object();
        j.set("model", model).set("mode", b.mode).set("batch", b.global_batch).set("input_size", size);
        j.set("threads", num_threads()).set("isa", isa_name(kernels().isa)).set("precision", precision_name(b.precision));
        j.set("steps", b.steps).set("ms_per_step", med * 1e3).set("images_per_s", ips);
        j.set("min_ms", *std::min_element(times.begin(), times.end()) * 1e3);
        j.set("max_ms", *std::max_element(times.begin(), times.end()) * 1e3);
        j.set("peak_rss_mb", peak_rss_mb());
        if (train) j.set("last_loss", loss);
        allreduce.report(j);
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("%s %s (%s), batch %lld, %lldx%lld: median %.1f ms/step, %.1f images/s, peak RSS %.0f MB (%s)%s\n",
                    model.c_str(), b.mode.c_str(), precision_name(b.precision), (long long)b.global_batch, (long long)size, (long long)size, med * 1e3, ips,
                    peak_rss_mb(), runtime_summary().c_str(), allreduce.summary().c_str());
    }
    return 0;
}

int cmd_bench(const Argv& argv) {
    Args a("bench", argv);
    ModelConfig cfg = architecture_flags(a);
    BenchOptions b;
    b.batch = a.integer("batch-size", 32, "images per step", 1, 65536);
    b.mode = a.str("mode", "train", "train, infer or pretrain");
    b.mask_ratio = a.number("mask-ratio", 0.6, "pretrain: share of patches removed", 0, 1);
    b.steps = a.integer("steps", 10, "timed steps", 1, 100000);
    b.warmup = a.integer("warmup", 2, "untimed steps first", 0, 1000);
    b.drop_path = a.number("drop-path", -1, "max drop-path rate (default: the paper's for the model)", -1, 1);
    const int64_t threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    b.json = a.flag("json", "print one JSON object");
    b.verbose = a.flag("verbose", "log kernels and oneDNN implementations");
    const std::string precision = precision_flag(a);
    if (a.help()) {
        std::printf("%s", a.usage("--model M --batch-size B --input-size S [--mode train|infer|pretrain] [--mask-ratio R] [--steps N] [--json]").c_str());
        return 0;
    }
    a.finish();
    b.precision = parse_precision(precision);
    b.global_batch = b.batch;
    b.batch = local_batch(b.global_batch);  // under mpirun: this rank's share
    if (b.mode != "train" && b.mode != "infer" && b.mode != "pretrain")
        fail("bench: --mode must be train, infer or pretrain (got '%s')", b.mode.c_str());
    cfg.validate();
    apply_threads(threads);
    ModelOptions planned{b.mode != "infer"};
    planned.precision = b.precision;
    if (b.mode == "pretrain") {
        planned.with_head = false;
        planned.mask_ratio = b.mask_ratio;
    }
    check_model_fits(cfg, b.batch, planned, b.mode == "infer" ? 1 : 4);
    return b.mode == "pretrain" ? bench_pretrain(cfg, b) : bench_classifier(cfg, b);
}

}  // namespace cnx
