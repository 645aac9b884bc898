// The training loop shared by `train` and `pretrain`: data -> augmentation -> the task's forward and
// backward -> AdamW (+EMA), a progress line, evaluation after each epoch, metrics.jsonl, atomic
// checkpoints and bit-identical --resume. And the supervised task.
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
    double best_score = 0;
    bool has_best = false;
    double epoch_loss_sum = 0;
    int64_t epoch_correct = 0, epoch_seen = 0;
    double first_loss_sum = 0;
    int64_t first_loss_n = 0;
};

}  // namespace

Json TrainOptions::to_json() const {
    Json j = Json::object();
    j.set("task", task).set("model", model).set("data", data_to_json(data));
    j.set("epochs", epochs).set("batch", batch).set("lr", lr).set("min_lr", min_lr);
    j.set("warmup_epochs", warmup_epochs).set("weight_decay", weight_decay).set("layer_decay", layer_decay);
    j.set("drop_path", drop_path).set("smoothing", smoothing).set("ema", ema);
    j.set("head_init_scale", head_init_scale).set("beta1", beta1).set("beta2", beta2);
    j.set("input_size", input_size).set("stem_stride", stem_stride).set("pad", pad).set("hflip", hflip);
    j.set("crop_min_scale", crop_min_scale).set("mask_ratio", mask_ratio);
    j.set("init", init).set("seed", (double)seed).set("eval_batch", eval_batch);
    j.set("max_train_samples", max_train_samples);
    return j;
}

TrainOptions TrainOptions::from_json(const Json& j) {
    if (!j.is_object()) fail("training options: not a JSON object");
    TrainOptions o;
    get(j, "task", o.task);
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
    get(j, "crop_min_scale", o.crop_min_scale);
    get(j, "mask_ratio", o.mask_ratio);
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
    Batch batch(B, t);
    EvalResult r;
    double loss_sum = 0;
    int64_t top1 = 0, top5 = 0;
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        const int64_t valid = std::min(B, n - b0);
        for (int64_t i = 0; i < B; i++) batch.idx[(size_t)i] = b0 + (i < valid ? i : 0);  // pad with a repeat
        batch.fill(d, 0);
        const float* z = net.forward(params, batch.images.data());
        const int32_t* labels = batch.labels.data();
        loss_sum += cross_entropy(nullptr, z, labels, valid, K, 0.0f) * (double)valid;
        top1 += count_topk_correct(z, labels, valid, K, 1);
        top5 += count_topk_correct(z, labels, valid, K, std::min<int64_t>(5, K));
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
    s.set("step", rs.step).set("best_score", rs.best_score).set("has_best", rs.has_best).set("epoch_loss_sum", rs.epoch_loss_sum);
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

// ------------------------------------------------------------------------------------------------
// the supervised task

namespace {

class SupervisedTask : public Task {
public:
    SupervisedTask(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data, const Transform& eval_t)
        : cfg_(cfg),
          opt_(opt),
          data_(data),
          eval_t_(eval_t),
          net_(cfg, opt.batch, true),
          eval_net_(cfg, std::min<int64_t>(opt.eval_batch, data.test.size()), false) {}

    const ModelConfig& config() const override { return cfg_; }
    const ParamLayout& layout() const override { return net_.layout(); }
    std::vector<ParamGroup> param_groups() const override {
        return cnx::param_groups(net_.layout(), (float)opt_.weight_decay, (float)opt_.layer_decay);
    }
    const char* gemm_impl() const override { return net_.gemm_impl(); }

    void init_params(float* P) override {
        const ParamLayout& L = net_.layout();
        cnx::init_params(P, L, opt_.seed, 0.02f, (float)opt_.head_init_scale);
        if (opt_.init.empty()) return;
        SafetensorsReader f(opt_.init);
        const std::string prefix = f.has("encoder.downsample_layers.0.0.weight") ? "encoder." : "";
        ModelConfig ic = read_config(f, prefix, cfg_.num_classes);
        for (int s = 0; s < kStages; s++)
            if (ic.depths[s] != cfg_.depths[s] || ic.dims[s] != cfg_.dims[s])
                fail("%s: holds a %s model but --model is %s", opt_.init.c_str(), ic.name.c_str(), cfg_.name.c_str());
        if (ic.in_chans != cfg_.in_chans || ic.stem_stride != cfg_.stem_stride)
            fail("%s: stem takes %d channels with stride %d, but this run needs %d channels with stride %d",
                 opt_.init.c_str(), ic.in_chans, ic.stem_stride, cfg_.in_chans, cfg_.stem_stride);
        LoadReport rep = load_params(f, L, P, prefix, LoadMode::Backbone);
        reinit_head(P, L, opt_.seed, 2e-5f);
        if (!opt_.quiet)
            std::fprintf(stderr, "init: %d tensors from %s%s; head re-initialised (std 2e-5), layer decay %g\n",
                         rep.loaded, opt_.init.c_str(), prefix.empty() ? "" : " (the encoder of a pre-training checkpoint)",
                         opt_.layer_decay);
    }

    double train_step(const float* P, float* G, const float* images, const int32_t* labels, int64_t step,
                      int64_t* correct) override {
        const int64_t K = cfg_.num_classes;
        const float* z = net_.forward(P, images, (float)opt_.drop_path, stream_key(opt_.seed, kRngDropPath, (uint64_t)step));
        const double loss = cross_entropy(net_.dlogits(), z, labels, opt_.batch, K, (float)opt_.smoothing);
        if (!std::isfinite(loss)) return loss;
        *correct += count_topk_correct(z, labels, opt_.batch, K, 1);
        net_.backward(P, G, net_.dlogits());
        return loss;
    }

    EpochReport evaluate(const float* P, const float* E, int64_t) override {
        EpochReport r;
        EvalResult ev = cnx::evaluate(eval_net_, P, data_.test, eval_t_);
        r.metrics.set("test_loss", ev.loss).set("test_acc", ev.top1).set("test_top5", ev.top5);
        r.summary = strfmt("test loss %.4f acc %.2f%% top-5 %.2f%%", ev.loss, 100 * ev.top1, 100 * ev.top5);
        r.score = ev.top1;
        r.test_acc = ev.top1;
        r.test_top5 = ev.top5;
        r.test_loss = ev.loss;
        if (E) {
            EvalResult em = cnx::evaluate(eval_net_, E, data_.test, eval_t_);
            r.metrics.set("ema_test_loss", em.loss).set("ema_test_acc", em.top1).set("ema_test_top5", em.top5);
            r.summary += strfmt(" | EMA acc %.2f%%", 100 * em.top1);
            if (em.top1 > ev.top1) {
                r.ema_better = true;
                r.score = em.top1;
            }
        }
        return r;
    }

private:
    ModelConfig cfg_;
    TrainOptions opt_;
    const DataSplits& data_;
    Transform eval_t_;
    ConvNeXtV2 net_;
    ConvNeXtV2 eval_net_;
};

}  // namespace

std::unique_ptr<Task> make_supervised_task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data,
                                           const Transform& eval_t) {
    return std::unique_ptr<Task>(new SupervisedTask(cfg, opt, data, eval_t));
}

// ------------------------------------------------------------------------------------------------
// the loop

TrainResult run_train(const TrainOptions& given, bool resume) {
    TrainOptions opt = given;
    const std::string state_path = path_join(given.out, "state.safetensors");
    std::unique_ptr<SafetensorsReader> state;
    if (resume) {
        opt = read_train_options(state_path);
        if (opt.task != given.task)
            fail("%s holds a '%s' run; continue it with convnextv2 %s --resume", state_path.c_str(), opt.task.c_str(),
                 opt.task.c_str());
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
    const bool pretrain = opt.task == "pretrain";
    if (!pretrain && opt.task != "train") fail("unknown task '%s'", opt.task.c_str());
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

    const int64_t n_train = opt.max_train_samples > 0 ? std::min(opt.max_train_samples, data.train.size()) : data.train.size();
    const int64_t spe = n_train / opt.batch;
    if (spe < 1) fail("the training set has %lld images, fewer than one batch of %lld", (long long)n_train, (long long)opt.batch);
    const int64_t total_steps = spe * opt.epochs;

    Transform train_t = eval_transform(cfg, data.train.small_images);
    train_t.train = true;
    train_t.pad = (int)opt.pad;
    train_t.hflip = opt.hflip;
    train_t.min_scale = (float)opt.crop_min_scale;
    Transform eval_t = train_t;
    eval_t.train = false;

    std::unique_ptr<Task> task = pretrain ? make_pretrain_task(cfg, opt, data, eval_t) : make_supervised_task(cfg, opt, data, eval_t);
    const ParamLayout& L = task->layout();
    make_dirs(opt.out);
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
        get(s, "best_score", rs.best_score);
        get(s, "has_best", rs.has_best);
        get(s, "epoch_loss_sum", rs.epoch_loss_sum);
        get(s, "epoch_correct", rs.epoch_correct);
        get(s, "epoch_seen", rs.epoch_seen);
        get(s, "first_loss_sum", rs.first_loss_sum);
        get(s, "first_loss_n", rs.first_loss_n);
        if (rs.step > total_steps) fail("%s: saved at step %lld, beyond this run's %lld steps", state_path.c_str(), (long long)rs.step, (long long)total_steps);
    } else {
        task->init_params(P.data());
        if (use_ema) std::copy(P.data(), P.data() + np, E.data());
        // A fresh run starts a fresh metrics log.
        write_file_atomic(path_join(opt.out, "metrics.jsonl"), "");
    }
    AdamW adamw;
    adamw.init(task->param_groups(), AdamWConfig{opt.beta1, opt.beta2, 1e-8});

    Batch batch(opt.batch, train_t);

    if (!opt.quiet) {
        std::fprintf(stderr, "%s %s on %s: %lld train / %lld test images, %lldx%lld input, stem stride %lld; %s\n",
                     pretrain ? "FCMAE pre-training" : "training", cfg.name.c_str(), opt.data.kind.c_str(),
                     (long long)n_train, (long long)data.test.size(), (long long)cfg.input_size, (long long)cfg.input_size,
                     (long long)cfg.stem_stride, runtime_summary().c_str());
        std::string extra = pretrain ? strfmt(", mask ratio %.2g", opt.mask_ratio)
                                     : strfmt(", drop path %.2g, smoothing %.2g", opt.drop_path, opt.smoothing);
        if (use_ema) extra += strfmt(", EMA %.5g", opt.ema);
        if (resume) extra += strfmt("; resuming at step %lld", (long long)rs.step);
        std::fprintf(stderr, "%lld epochs x %lld steps of %lld, lr %.3g (warmup %.2g epochs, cosine to %.2g), AdamW %.2g/%.3g, wd %.3g%s\n",
                     (long long)opt.epochs, (long long)spe, (long long)opt.batch, opt.lr, opt.warmup_epochs, opt.min_lr,
                     opt.beta1, opt.beta2, opt.weight_decay, extra.c_str());
        if (opt.verbose) std::fprintf(stderr, "%s", runtime_details(task->gemm_impl()).c_str());
    }

    TrainResult result;
    auto fill_result = [&]() {
        result.steps = rs.step;
        result.first_train_loss = rs.first_loss_sum / (double)std::max<int64_t>(1, rs.first_loss_n);
        result.best_acc = pretrain ? 0 : rs.best_score;
        result.best_loss = pretrain ? -rs.best_score : 0;
    };
    if (rs.step >= total_steps) {
        fill_result();
        result.already_complete = true;
        return result;
    }
    g_interrupted = false;
    auto old_handler = std::signal(SIGINT, on_sigint);
    Progress progress;
    const double t_start = now_seconds();
    int64_t steps_this_run = 0;

    auto save_resume_state = [&]() {
        save_state(state_path, cfg, L, opt, rs, P.data(), M.data(), V.data(), use_ema ? E.data() : nullptr);
    };

    for (int64_t epoch = rs.step / spe; epoch < opt.epochs; epoch++) {
        const std::vector<int64_t> perm = epoch_permutation(n_train, opt.seed, epoch);
        const uint64_t aug_key = stream_key(opt.seed, kRngAugment, (uint64_t)epoch);
        const double t_epoch = now_seconds();
        int64_t epoch_steps_run = 0;
        for (int64_t it = rs.step % spe; it < spe; it++) {
            batch.fill(data.train, aug_key, perm.data() + it * opt.batch);
            const double lr = lr_at((double)epoch + (double)it / (double)spe, opt.lr, opt.min_lr, opt.warmup_epochs,
                                    (double)opt.epochs);
            G.zero();
            const double loss = task->train_step(P.data(), G.data(), batch.images.data(), batch.labels.data(), rs.step, &rs.epoch_correct);
            if (!std::isfinite(loss)) {
                std::signal(SIGINT, old_handler);
                progress.done();
                fail("step %lld: the loss is %g (training diverged; try a lower --lr). Checkpoints in %s are unchanged.",
                     (long long)rs.step + 1, loss, opt.out.c_str());
            }
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
            result.last_train_loss = loss;
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
                    std::fprintf(stderr, "%s at step %lld; continue with: convnextv2 %s --resume --out %s\n",
                                 g_interrupted ? "interrupted" : "stopped", (long long)rs.step, opt.task.c_str(), opt.out.c_str());
                std::signal(SIGINT, old_handler);
                fill_result();
                result.stopped_early = true;
                return result;
            }
        }
        progress.done();
        const double train_time = now_seconds() - t_epoch;
        const double train_loss = rs.epoch_loss_sum / (double)(rs.epoch_seen / opt.batch);
        const double train_acc = (double)rs.epoch_correct / (double)rs.epoch_seen;
        const double ips = (double)(epoch_steps_run * opt.batch) / std::max(train_time, 1e-9);
        EpochReport rep = task->evaluate(P.data(), use_ema ? E.data() : nullptr, epoch);

        Json m = Json::object();
        m.set("epoch", epoch + 1).set("step", rs.step).set("lr", lr_at((double)epoch + 1, opt.lr, opt.min_lr, opt.warmup_epochs, (double)opt.epochs));
        m.set("train_loss", train_loss);
        if (!pretrain) m.set("train_acc", train_acc);
        for (const auto& kv : rep.metrics.members()) m.set(kv.first, kv.second);
        m.set("images_per_s", ips).set("epoch_time_s", now_seconds() - t_epoch).set("elapsed_s", now_seconds() - t_start);
        append_line(path_join(opt.out, "metrics.jsonl"), m.dump());

        std::vector<std::pair<std::string, std::string>> meta = {{"convnextv2.task", opt.task},
                                                                 {"convnextv2.epoch", std::to_string(epoch + 1)}};
        save_weights(path_join(opt.out, "last.safetensors"), cfg, L, P.data(), meta);
        if (!rs.has_best || rep.score > rs.best_score) {
            rs.best_score = rep.score;
            rs.has_best = true;
            meta.push_back({"convnextv2.weights", rep.ema_better ? "ema" : "raw"});
            save_weights(path_join(opt.out, "best.safetensors"), cfg, L, rep.ema_better ? E.data() : P.data(), meta);
        }
        rs.epoch_loss_sum = 0;
        rs.epoch_correct = rs.epoch_seen = 0;
        save_resume_state();
        if (!opt.quiet) {
            std::string train_part = pretrain ? strfmt("train loss %.4f", train_loss)
                                              : strfmt("train loss %.4f acc %.2f%%", train_loss, 100 * train_acc);
            std::fprintf(stderr, "epoch %lld/%lld: %s | %s | %.0f img/s, %s\n", (long long)epoch + 1, (long long)opt.epochs,
                         train_part.c_str(), rep.summary.c_str(), ips, format_duration(now_seconds() - t_epoch).c_str());
        }
        result.test_acc = rep.test_acc;
        result.test_top5 = rep.test_top5;
        result.test_loss = rep.test_loss;
    }
    std::signal(SIGINT, old_handler);
    fill_result();
    return result;
}

}  // namespace cnx
