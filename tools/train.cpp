// Training loop: data -> augmentation -> forward -> loss -> backward -> AdamW (+EMA), a progress
// line, evaluation after each epoch, metrics.jsonl, atomic checkpoints and bit-identical --resume.
//
// Every random choice is a counter-based stream keyed by (seed, purpose, epoch or step, index), so
// the state to resume is just the weights, the AdamW moments, the EMA and the step count.
#include "tools/train.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>

#include "convnextv2/checkpoint.h"
#include "core/check.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "tools/commands.h"
#include "tools/progress.h"

namespace cnx {

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

const char* kOptionsKey = "convnextv2.train_options";
const char* kStateKey = "convnextv2.state";

Json data_to_json(const DatasetOptions& d) {
    Json j = Json::object();
    j.set("kind", d.kind).set("path", d.path);
    j.set("train_images", d.train_images).set("train_labels", d.train_labels);
    j.set("test_images", d.test_images).set("test_labels", d.test_labels);
    j.set("folder_channels", d.folder_channels).set("val_split", d.val_split);
    j.set("synthetic_train", d.synthetic_train).set("synthetic_test", d.synthetic_test);
    j.set("synthetic_size", d.synthetic_size).set("synthetic_channels", d.synthetic_channels);
    j.set("synthetic_classes", d.synthetic_classes).set("seed", (double)d.seed);
    return j;
}

// Reads field `key` of j into v when present (numbers and strings).
template <class T>
void get(const Json& j, const char* key, T& v) {
    const Json* f = j.find(key);
    if (!f) return;
    if (f->is_number()) v = (T)f->as_number();
}
void get(const Json& j, const char* key, std::string& v) {
    const Json* f = j.find(key);
    if (f && f->is_string()) v = f->as_string();
}
void get(const Json& j, const char* key, bool& v) {
    const Json* f = j.find(key);
    if (f && f->is_bool()) v = f->as_bool();
}

DatasetOptions data_from_json(const Json& j) {
    DatasetOptions d;
    get(j, "kind", d.kind);
    get(j, "path", d.path);
    get(j, "train_images", d.train_images);
    get(j, "train_labels", d.train_labels);
    get(j, "test_images", d.test_images);
    get(j, "test_labels", d.test_labels);
    get(j, "folder_channels", d.folder_channels);
    get(j, "val_split", d.val_split);
    get(j, "synthetic_train", d.synthetic_train);
    get(j, "synthetic_test", d.synthetic_test);
    get(j, "synthetic_size", d.synthetic_size);
    get(j, "synthetic_channels", d.synthetic_channels);
    get(j, "synthetic_classes", d.synthetic_classes);
    get(j, "seed", d.seed);
    return d;
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
    std::vector<int64_t> p((size_t)n);
    for (int64_t i = 0; i < n; i++) p[(size_t)i] = i;
    Rng rng(stream_key(seed, kRngShuffle, (uint64_t)epoch));
    for (int64_t i = n - 1; i > 0; i--) std::swap(p[(size_t)i], p[(size_t)rng.below((uint64_t)(i + 1))]);
    return p;
}

struct RunState {
    int64_t step = 0;
    double best_acc = 0;
    double epoch_loss_sum = 0;
    int64_t epoch_correct = 0, epoch_seen = 0;
    double first_loss_sum = 0;
    int64_t first_loss_n = 0;
};

}  // namespace

Json TrainOptions::to_json() const {
    Json j = Json::object();
    j.set("model", model).set("data", data_to_json(data));
    j.set("epochs", epochs).set("batch", batch).set("lr", lr).set("min_lr", min_lr);
    j.set("warmup_epochs", warmup_epochs).set("weight_decay", weight_decay).set("layer_decay", layer_decay);
    j.set("drop_path", drop_path).set("smoothing", smoothing).set("ema", ema);
    j.set("head_init_scale", head_init_scale).set("beta1", beta1).set("beta2", beta2);
    j.set("input_size", input_size).set("stem_stride", stem_stride).set("pad", pad).set("hflip", hflip);
    j.set("init", init).set("seed", (double)seed).set("eval_batch", eval_batch);
    j.set("max_train_samples", max_train_samples);
    return j;
}

TrainOptions TrainOptions::from_json(const Json& j) {
    if (!j.is_object()) fail("training options: not a JSON object");
    TrainOptions o;
    get(j, "model", o.model);
    if (const Json* d = j.find("data")) o.data = data_from_json(*d);
    get(j, "epochs", o.epochs);
    get(j, "batch", o.batch);
    get(j, "lr", o.lr);
    get(j, "min_lr", o.min_lr);
    get(j, "warmup_epochs", o.warmup_epochs);
    get(j, "weight_decay", o.weight_decay);
    get(j, "layer_decay", o.layer_decay);
    get(j, "drop_path", o.drop_path);
    get(j, "smoothing", o.smoothing);
    get(j, "ema", o.ema);
    get(j, "head_init_scale", o.head_init_scale);
    get(j, "beta1", o.beta1);
    get(j, "beta2", o.beta2);
    get(j, "input_size", o.input_size);
    get(j, "stem_stride", o.stem_stride);
    get(j, "pad", o.pad);
    get(j, "hflip", o.hflip);
    get(j, "init", o.init);
    get(j, "seed", o.seed);
    get(j, "eval_batch", o.eval_batch);
    get(j, "max_train_samples", o.max_train_samples);
    return o;
}

TrainOptions read_train_options(const std::string& state_path) {
    if (!file_exists(state_path)) fail("%s: no saved run to resume", state_path.c_str());
    SafetensorsReader f(state_path);
    if (!f.has_meta(kOptionsKey)) fail("%s: not a training state file (no %s metadata)", state_path.c_str(), kOptionsKey);
    return TrainOptions::from_json(Json::parse(f.meta(kOptionsKey), state_path + ": " + kOptionsKey));
}

EvalResult evaluate(ConvNeXtV2& net, const float* params, const Dataset& d, const Transform& t) {
    const int64_t B = net.batch(), n = d.size(), K = net.config().num_classes;
    const size_t per = (size_t)t.size * t.size * t.channels;
    std::vector<float> images((size_t)B * per);
    std::vector<int32_t> labels((size_t)B);
    std::vector<int64_t> idx((size_t)B);
    EvalResult r;
    double loss_sum = 0;
    int64_t top1 = 0, top5 = 0;
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        const int64_t valid = std::min(B, n - b0);
        for (int64_t i = 0; i < B; i++) idx[(size_t)i] = b0 + (i < valid ? i : 0);  // pad with a repeat
        make_batch(images.data(), labels.data(), d, idx.data(), B, t, 0);
        const float* z = net.forward(params, images.data());
        loss_sum += cross_entropy(nullptr, z, labels.data(), valid, K, 0.0f) * (double)valid;
        top1 += count_topk_correct(z, labels.data(), valid, K, 1);
        top5 += count_topk_correct(z, labels.data(), valid, K, std::min<int64_t>(5, K));
    }
    r.count = n;
    r.loss = loss_sum / (double)n;
    r.top1 = (double)top1 / (double)n;
    r.top5 = (double)top5 / (double)n;
    return r;
}

static void save_state(const std::string& path, const ModelConfig& cfg, const ParamLayout& L, const TrainOptions& opt,
                       const RunState& rs, const float* P, const float* M, const float* V, const float* E) {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.set_metadata(kConfigKey, cfg.to_json().dump());
    w.set_metadata(kOptionsKey, opt.to_json().dump());
    Json s = Json::object();
    s.set("step", rs.step).set("best_acc", rs.best_acc).set("epoch_loss_sum", rs.epoch_loss_sum);
    s.set("epoch_correct", rs.epoch_correct).set("epoch_seen", rs.epoch_seen);
    s.set("first_loss_sum", rs.first_loss_sum).set("first_loss_n", rs.first_loss_n);
    s.set("rng", "counter-based streams keyed by (seed, purpose, epoch/step, sample); nothing else to save");
    w.set_metadata(kStateKey, s.dump());
    add_params(w, L, P, "");
    add_params(w, L, M, "optimizer.exp_avg.");
    add_params(w, L, V, "optimizer.exp_avg_sq.");
    if (E) add_params(w, L, E, "ema.");
    w.write(path);
}

TrainResult run_train(const TrainOptions& given, bool resume) {
    TrainOptions opt = given;
    const std::string state_path = path_join(given.out, "state.safetensors");
    std::unique_ptr<SafetensorsReader> state;
    if (resume) {
        opt = read_train_options(state_path);
        // Run control comes from this invocation; the recipe from the saved run.
        opt.out = given.out;
        opt.threads = given.threads;
        opt.stop_after_steps = given.stop_after_steps;
        opt.save_every = given.save_every;
        opt.verbose = given.verbose;
        opt.quiet = given.quiet;
        if (!given.data.path.empty()) opt.data.path = given.data.path;
        state.reset(new SafetensorsReader(state_path));
    }
    set_num_threads((int)opt.threads);
    if (opt.epochs < 1) fail("--epochs must be at least 1");
    if (opt.batch < 1) fail("--batch-size must be at least 1");

    DataSplits data = load_dataset(opt.data);
    ModelConfig cfg = model_config(opt.model);
    cfg.num_classes = data.train.num_classes;
    cfg.in_chans = data.train.channels;
    cfg.stem_stride = (int)opt.stem_stride;
    cfg.input_size = (int)opt.input_size;
    cfg.mean = data.mean;
    cfg.std = data.std;
    cfg.class_names = data.train.class_names;
    cfg.validate();

    std::unique_ptr<SafetensorsReader> init;
    std::string init_prefix;
    if (!opt.init.empty() && !resume) {
        init.reset(new SafetensorsReader(opt.init));
        if (init->has("encoder.downsample_layers.0.0.weight")) init_prefix = "encoder.";
        ModelConfig ic = read_config(*init, init_prefix, cfg.num_classes);
        for (int s = 0; s < kStages; s++)
            if (ic.depths[s] != cfg.depths[s] || ic.dims[s] != cfg.dims[s])
                fail("%s: holds a %s model but --model is %s", opt.init.c_str(), ic.name.c_str(), cfg.name.c_str());
        if (ic.in_chans != cfg.in_chans || ic.stem_stride != cfg.stem_stride)
            fail("%s: stem takes %d channels with stride %d, but this run needs %d channels with stride %d",
                 opt.init.c_str(), ic.in_chans, ic.stem_stride, cfg.in_chans, cfg.stem_stride);
    }

    const int64_t n_train = opt.max_train_samples > 0 ? std::min(opt.max_train_samples, data.train.size()) : data.train.size();
    const int64_t spe = n_train / opt.batch;
    if (spe < 1) fail("the training set has %lld images, fewer than one batch of %lld", (long long)n_train, (long long)opt.batch);
    const int64_t total_steps = spe * opt.epochs;
    make_dirs(opt.out);

    ConvNeXtV2 net(cfg, opt.batch, true);
    ConvNeXtV2 eval_net(cfg, std::min<int64_t>(opt.eval_batch, data.test.size()), false);
    const ParamLayout& L = net.layout();
    const size_t np = (size_t)L.total;
    FloatBuffer P(np), G(np), M(np), V(np), E;
    const bool use_ema = opt.ema > 0;
    if (use_ema) E.resize(np);
    RunState rs;

    if (resume) {
        load_params(*state, L, P.data(), "");
        load_params(*state, L, M.data(), "optimizer.exp_avg.");
        load_params(*state, L, V.data(), "optimizer.exp_avg_sq.");
        if (use_ema) load_params(*state, L, E.data(), "ema.");
        Json s = Json::parse(state->meta(kStateKey), state_path + ": " + kStateKey);
        get(s, "step", rs.step);
        get(s, "best_acc", rs.best_acc);
        get(s, "epoch_loss_sum", rs.epoch_loss_sum);
        get(s, "epoch_correct", rs.epoch_correct);
        get(s, "epoch_seen", rs.epoch_seen);
        get(s, "first_loss_sum", rs.first_loss_sum);
        get(s, "first_loss_n", rs.first_loss_n);
        if (rs.step > total_steps) fail("%s: saved at step %lld, beyond this run's %lld steps", state_path.c_str(), (long long)rs.step, (long long)total_steps);
    } else {
        init_params(P.data(), L, opt.seed, 0.02f, (float)opt.head_init_scale);
        if (init) {
            LoadReport rep = load_params(*init, L, P.data(), init_prefix, LoadMode::Backbone);
            reinit_head(P.data(), L, opt.seed, 2e-5f);
            if (!opt.quiet)
                std::fprintf(stderr, "init: %d tensors from %s%s; head re-initialised (std 2e-5)\n", rep.loaded,
                             opt.init.c_str(), init_prefix.empty() ? "" : " (encoder of a pre-training checkpoint)");
        }
        if (use_ema) std::copy(P.data(), P.data() + np, E.data());
        // A fresh run starts a fresh metrics log.
        write_file_atomic(path_join(opt.out, "metrics.jsonl"), "");
    }
    AdamW adamw;
    adamw.init(param_groups(L, (float)opt.weight_decay, (float)opt.layer_decay),
               AdamWConfig{opt.beta1, opt.beta2, 1e-8});

    Transform train_t;
    train_t.size = cfg.input_size;
    train_t.channels = cfg.in_chans;
    train_t.mean = cfg.mean;
    train_t.std = cfg.std;
    train_t.train = true;
    train_t.small_images = data.train.small_images;
    train_t.pad = (int)opt.pad;
    train_t.hflip = opt.hflip;
    Transform eval_t = train_t;
    eval_t.train = false;

    const size_t per = (size_t)cfg.input_size * cfg.input_size * cfg.in_chans;
    std::vector<float> images((size_t)opt.batch * per);
    std::vector<int32_t> labels((size_t)opt.batch);
    const int64_t K = cfg.num_classes;

    if (!opt.quiet) {
        std::fprintf(stderr, "%s %s: %lld train / %lld test images, %lldx%lld input, stem stride %lld; %s\n",
                     cfg.name.c_str(), opt.data.kind.c_str(), (long long)n_train, (long long)data.test.size(),
                     (long long)cfg.input_size, (long long)cfg.input_size, (long long)cfg.stem_stride,
                     runtime_summary().c_str());
        std::fprintf(stderr, "%lld epochs x %lld steps of %lld, lr %.3g (warmup %.2g epochs, cosine to %.2g), wd %.3g, drop path %.2g, smoothing %.2g%s%s\n",
                     (long long)opt.epochs, (long long)spe, (long long)opt.batch, opt.lr, opt.warmup_epochs, opt.min_lr,
                     opt.weight_decay, opt.drop_path, opt.smoothing, use_ema ? strfmt(", EMA %.5g", opt.ema).c_str() : "",
                     resume ? strfmt("; resuming at step %lld", (long long)rs.step).c_str() : "");
        if (opt.verbose) std::fprintf(stderr, "%s", runtime_details(net.gemm_impl()).c_str());
    }

    if (rs.step >= total_steps) {
        TrainResult done;
        done.steps = rs.step;
        done.best_acc = rs.best_acc;
        done.already_complete = true;
        return done;
    }
    g_interrupted = false;
    auto old_handler = std::signal(SIGINT, on_sigint);
    Progress progress;
    TrainResult result;
    const double t_start = now_seconds();
    int64_t steps_this_run = 0;
    double last_loss = 0;

    auto save_resume_state = [&]() {
        save_state(state_path, cfg, L, opt, rs, P.data(), M.data(), V.data(), use_ema ? E.data() : nullptr);
    };

    for (int64_t epoch = rs.step / spe; epoch < opt.epochs; epoch++) {
        const std::vector<int64_t> perm = epoch_permutation(n_train, opt.seed, epoch);
        const uint64_t aug_key = stream_key(opt.seed, kRngAugment, (uint64_t)epoch);
        const double t_epoch = now_seconds();
        int64_t epoch_steps_run = 0;
        for (int64_t it = rs.step % spe; it < spe; it++) {
            make_batch(images.data(), labels.data(), data.train, perm.data() + it * opt.batch, opt.batch, train_t, aug_key);
            const double lr = lr_at((double)epoch + (double)it / (double)spe, opt.lr, opt.min_lr, opt.warmup_epochs,
                                    (double)opt.epochs);
            G.zero();
            const float* z = net.forward(P.data(), images.data(), (float)opt.drop_path,
                                         stream_key(opt.seed, kRngDropPath, (uint64_t)rs.step));
            const double loss = cross_entropy(net.dlogits(), z, labels.data(), opt.batch, K, (float)opt.smoothing);
            if (!std::isfinite(loss))
                fail("step %lld: the loss is %g (training diverged; try a lower --lr). Checkpoints in %s are unchanged.",
                     (long long)rs.step + 1, loss, opt.out.c_str());
            rs.epoch_correct += count_topk_correct(z, labels.data(), opt.batch, K, 1);
            net.backward(P.data(), G.data(), net.dlogits());
            adamw.update(P.data(), M.data(), V.data(), G.data(), lr, rs.step + 1);
            if (use_ema) ema_update(E.data(), P.data(), (int64_t)np, (float)opt.ema);
            rs.step++;
            steps_this_run++;
            epoch_steps_run++;
            rs.epoch_loss_sum += loss;
            rs.epoch_seen += opt.batch;
            if (rs.first_loss_n < 10) {
                rs.first_loss_sum += loss;
                rs.first_loss_n++;
            }
            last_loss = loss;
            if (!opt.quiet) {
                double el = now_seconds() - t_epoch;
                double ips = (double)(epoch_steps_run * opt.batch) / std::max(el, 1e-9);
                double eta = (double)(total_steps - rs.step) * opt.batch / std::max(ips, 1e-9);
                progress.update(strfmt("epoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.2e  %.0f img/s  ETA %s",
                                       (long long)epoch + 1, (long long)opt.epochs, (long long)it + 1, (long long)spe,
                                       rs.epoch_loss_sum / (double)(rs.epoch_seen / opt.batch), lr, ips,
                                       format_duration(eta).c_str()),
                                it + 1 == spe);
            }
            if (opt.save_every > 0 && rs.step % opt.save_every == 0) save_resume_state();
            if ((opt.stop_after_steps > 0 && steps_this_run >= opt.stop_after_steps) || g_interrupted) {
                progress.done();
                save_resume_state();
                if (!opt.quiet)
                    std::fprintf(stderr, "%s at step %lld; continue with: convnextv2 train --resume --out %s\n",
                                 g_interrupted ? "interrupted" : "stopped", (long long)rs.step, opt.out.c_str());
                std::signal(SIGINT, old_handler);
                result.steps = rs.step;
                result.last_train_loss = last_loss;
                result.first_train_loss = rs.first_loss_sum / (double)std::max<int64_t>(1, rs.first_loss_n);
                result.best_acc = rs.best_acc;
                result.stopped_early = true;
                return result;
            }
        }
        progress.done();
        const double train_time = now_seconds() - t_epoch;
        const double train_loss = rs.epoch_loss_sum / (double)(rs.epoch_seen / opt.batch);
        const double train_acc = (double)rs.epoch_correct / (double)rs.epoch_seen;
        const int64_t seen_this_run = epoch_steps_run * opt.batch;
        EvalResult ev = evaluate(eval_net, P.data(), data.test, eval_t);
        EvalResult ev_ema;
        if (use_ema) ev_ema = evaluate(eval_net, E.data(), data.test, eval_t);
        const bool ema_better = use_ema && ev_ema.top1 > ev.top1;
        const double acc = ema_better ? ev_ema.top1 : ev.top1;

        Json m = Json::object();
        m.set("epoch", epoch + 1).set("step", rs.step).set("lr", lr_at((double)epoch + 1, opt.lr, opt.min_lr, opt.warmup_epochs, (double)opt.epochs));
        m.set("train_loss", train_loss).set("train_acc", train_acc);
        m.set("test_loss", ev.loss).set("test_acc", ev.top1).set("test_top5", ev.top5);
        if (use_ema) m.set("ema_test_loss", ev_ema.loss).set("ema_test_acc", ev_ema.top1).set("ema_test_top5", ev_ema.top5);
        m.set("images_per_s", (double)seen_this_run / std::max(train_time, 1e-9)).set("epoch_time_s", now_seconds() - t_epoch);
        m.set("elapsed_s", now_seconds() - t_start);
        append_line(path_join(opt.out, "metrics.jsonl"), m.dump());

        std::vector<std::pair<std::string, std::string>> meta = {
            {"convnextv2.epoch", std::to_string(epoch + 1)}, {"convnextv2.test_acc", strfmt("%.6f", ev.top1)}};
        save_weights(path_join(opt.out, "last.safetensors"), cfg, L, P.data(), meta);
        if (acc > rs.best_acc || epoch == 0) {
            rs.best_acc = std::max(acc, rs.best_acc);
            meta[1].second = strfmt("%.6f", acc);
            meta.push_back({"convnextv2.weights", ema_better ? "ema" : "raw"});
            save_weights(path_join(opt.out, "best.safetensors"), cfg, L, ema_better ? E.data() : P.data(), meta);
        }
        rs.epoch_loss_sum = 0;
        rs.epoch_correct = rs.epoch_seen = 0;
        save_resume_state();
        if (!opt.quiet) {
            std::fprintf(stderr, "epoch %lld/%lld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% top-5 %.2f%%",
                         (long long)epoch + 1, (long long)opt.epochs, train_loss, 100 * train_acc, ev.loss, 100 * ev.top1,
                         100 * ev.top5);
            if (use_ema) std::fprintf(stderr, " | EMA acc %.2f%%", 100 * ev_ema.top1);
            std::fprintf(stderr, " | %.0f img/s, %s\n", (double)seen_this_run / std::max(train_time, 1e-9),
                         format_duration(now_seconds() - t_epoch).c_str());
        }
        result.test_acc = ev.top1;
        result.test_top5 = ev.top5;
        result.test_loss = ev.loss;
    }
    std::signal(SIGINT, old_handler);
    result.steps = rs.step;
    result.last_train_loss = last_loss;
    result.first_train_loss = rs.first_loss_sum / (double)std::max<int64_t>(1, rs.first_loss_n);
    result.best_acc = rs.best_acc;
    return result;
}

}  // namespace cnx
