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
#include <unistd.h>

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

std::atomic<bool> g_stop_requested{false};

// The first Ctrl-C (or SIGTERM) asks the loop to stop after the current step and save; a second one
// exits at once: every save is atomic, so the files on disk stay whole either way.
void on_stop_signal(int sig) {
    if (g_stop_requested.exchange(true)) {
        static const char msg[] = "\ninterrupted again: exiting now; the last saved state is intact\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(128 + sig);
    }
    static const char msg[] = "\nstopping after the current step, then saving (interrupt again to exit at once)\n";
    (void)!::write(2, msg, sizeof msg - 1);
}

// Installs on_stop_signal for SIGINT and SIGTERM for as long as it lives.
class StopSignals {
public:
    StopSignals() {
        g_stop_requested = false;
        old_int_ = std::signal(SIGINT, on_stop_signal);
        old_term_ = std::signal(SIGTERM, on_stop_signal);
    }
    ~StopSignals() {
        std::signal(SIGINT, old_int_);
        std::signal(SIGTERM, old_term_);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    void (*old_int_)(int);
    void (*old_term_)(int);
};

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
    std::vector<int64_t> p((size_t)n);
    for (int64_t i = 0; i < n; i++) p[(size_t)i] = i;
    Rng rng(stream_key(seed, kRngShuffle, (uint64_t)epoch));
    for (int64_t i = n - 1; i > 0; i--) std::swap(p[(size_t)i], p[(size_t)rng.below((uint64_t)(i + 1))]);
    return p;
}

}  // namespace

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
        const int64_t bad = find_non_finite(z, valid * K);
        if (bad >= 0)
            fail("%s: the model's output for image %lld is not finite (%g); the weights are unusable for this data",
                 d.name.c_str(), (long long)(b0 + bad / K), (double)z[bad]);
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

namespace {

// Keeps the metrics lines of epochs 1..epochs_done, each once: a run that stopped before saving its
// state redoes the epochs after it, and their lines with them.
void reconcile_metrics(const std::string& path, int64_t epochs_done) {
    if (!file_exists(path)) return;
    const std::string text = read_file(path);
    std::string kept;
    int64_t next = 1;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        int64_t epoch = 0;
        try {
            const Json j = Json::parse(line, path);
            const Json* e = j.find("epoch");
            if (!e || !e->as_integer(1, INT64_MAX, &epoch)) continue;
        } catch (const Error&) {
            continue;  // a line cut short by a crash
        }
        if (epoch == next && epoch <= epochs_done) {
            kept += line + "\n";
            next++;
        }
    }
    if (kept != text) write_file_atomic(path, kept);
}

class TrainingRun {
public:
    TrainingRun(const TrainOptions& given, bool resume);
    TrainResult run();

private:
    TrainOptions opt_;
    std::string state_path_;
    std::unique_ptr<FolderLock> lock_;
    DataSplits data_;
    ModelConfig cfg_;
    int64_t n_train_ = 0, spe_ = 0, total_steps_ = 0;
    Transform train_t_;
    std::unique_ptr<Task> task_;
    FloatBuffer P_, G_, M_, V_, E_;
    bool use_ema_ = false;
    AdamW adamw_;
    std::unique_ptr<Batch> batch_;
    RunState rs_;
    int64_t saved_step_ = -1;  // the step of the last state save by this process
    int64_t steps_this_run_ = 0;
    double t_start_ = 0;
    Progress progress_;
    TrainResult result_;

    bool pretrain() const { return opt_.task == "pretrain"; }
    // A stop right after an epoch's last step leaves that epoch's end (evaluation, checkpoints) to do.
    bool epoch_end_pending() const { return rs_.step > 0 && rs_.epoch_seen == spe_ * opt_.batch; }
    void restore_run_state(const SafetensorsReader& state, int64_t requested_threads);
    void restore_tensors(const SafetensorsReader& state);
    void print_header(bool resume) const;
    double step(int64_t epoch, int64_t it, const std::vector<int64_t>& perm);
    void end_epoch(int64_t epoch);
    void save_state();
    void stop();
    void fill_result();
};

TrainingRun::TrainingRun(const TrainOptions& given, bool resume) : opt_(given) {
    state_path_ = path_join(given.out, "state.safetensors");
    if (resume && !file_exists(state_path_)) fail("%s: no saved run to resume", state_path_.c_str());
    make_dirs(given.out);
    lock_.reset(new FolderLock(given.out));
    const int stale = remove_stale_temp_files(given.out);
    if (stale && !given.quiet)
        std::fprintf(stderr, "removed %d temporary file%s left in %s by a run that died while saving\n", stale,
                     stale == 1 ? "" : "s", given.out.c_str());

    std::unique_ptr<SafetensorsReader> state;
    if (resume) {
        state.reset(new SafetensorsReader(state_path_));
        opt_ = read_train_options(*state);
        if (opt_.task != given.task)
            fail("%s holds a '%s' run; continue it with convnextv2 %s --resume", state_path_.c_str(), opt_.task.c_str(),
                 opt_.task.c_str());
        // Run control comes from this invocation; the recipe from the saved run.
        opt_.out = given.out;
        opt_.threads = given.threads;
        opt_.stop_after_steps = given.stop_after_steps;
        opt_.save_every = given.save_every;
        opt_.verbose = given.verbose;
        opt_.quiet = given.quiet;
        if (!given.data.path.empty()) opt_.data.path = given.data.path;
    }
    opt_.validate();
    const int threads = apply_threads(opt_.threads, opt_.quiet);

    data_ = load_dataset(opt_.data);
    cfg_ = model_config(opt_.model);
    cfg_.num_classes = data_.train.num_classes;
    cfg_.in_chans = data_.train.channels;
    cfg_.stem_stride = (int)opt_.stem_stride;
    cfg_.input_size = (int)opt_.input_size;
    cfg_.mean = data_.mean;
    cfg_.std = data_.std;
    cfg_.class_names = data_.train.class_names;
    cfg_.validate();

    n_train_ = opt_.max_train_samples > 0 ? std::min(opt_.max_train_samples, data_.train.size()) : data_.train.size();
    spe_ = n_train_ / opt_.batch;
    if (spe_ < 1)
        fail("the training set has %lld images, fewer than one batch of %lld", (long long)n_train_, (long long)opt_.batch);
    total_steps_ = spe_ * opt_.epochs;

    train_t_ = eval_transform(cfg_, data_.train.small_images);
    train_t_.train = true;
    train_t_.pad = (int)opt_.pad;
    train_t_.hflip = opt_.hflip;
    train_t_.min_scale = (float)opt_.crop_min_scale;
    Transform eval_t = train_t_;
    eval_t.train = false;

    use_ema_ = opt_.ema > 0;
    // The classifier, or the masked encoder of pre-training (its dense decoder is small beside it);
    // weights, gradients, two moments and the EMA.
    // Before the model exists: its per-thread buffers are sized by the thread count.
    if (resume) restore_run_state(*state, given.threads);
    ModelOptions model{true};
    if (pretrain()) {
        model.with_head = false;
        model.mask_ratio = opt_.mask_ratio;
    }
    check_model_fits(cfg_, opt_.batch, model, use_ema_ ? 5 : 4);
    task_ = pretrain() ? make_pretrain_task(cfg_, opt_, data_, eval_t) : make_supervised_task(cfg_, opt_, data_, eval_t);
    const size_t np = (size_t)task_->layout().total;
    P_.resize(np);
    G_.resize(np);
    M_.resize(np);
    V_.resize(np);
    if (use_ema_) E_.resize(np);

    if (resume) {
        restore_tensors(*state);
    } else {
        task_->init_params(P_.data());
        if (use_ema_) std::copy(P_.data(), P_.data() + np, E_.data());
        rs_.threads = threads;
        write_file_atomic(path_join(opt_.out, "metrics.jsonl"), "");  // a fresh run starts a fresh log
    }
    adamw_.init(task_->param_groups(), AdamWConfig{opt_.beta1, opt_.beta2, 1e-8});
    batch_.reset(new Batch(opt_.batch, train_t_));
    print_header(resume);
}

void TrainingRun::restore_run_state(const SafetensorsReader& state, int64_t requested_threads) {
    rs_ = RunState::from_json(Json::parse(state.meta(kStateKey), state_path_ + ": " + kStateKey), spe_, opt_.epochs,
                              opt_.batch, state_path_);
    reconcile_metrics(path_join(opt_.out, "metrics.jsonl"), rs_.step / spe_ - (epoch_end_pending() ? 1 : 0));
    // The thread count decides how partial sums are split, so the saved one keeps the run bit-identical.
    const int saved = (int)rs_.threads;
    const int threads = requested_threads == 0 && saved > 0 ? apply_threads(saved, opt_.quiet) : num_threads();
    if (saved > 0 && threads != saved && !opt_.quiet)
        std::fprintf(stderr, "warning: resuming on %d threads, but the run so far used %d: its weights will differ "
                             "from an uninterrupted run's (pass --threads %d to keep them bit-identical)\n",
                     threads, saved, saved);
    rs_.threads = threads;
}

void TrainingRun::restore_tensors(const SafetensorsReader& state) {
    const ParamLayout& L = task_->layout();
    load_params(state, L, P_.data(), "");
    load_params(state, L, M_.data(), "optimizer.exp_avg.");
    load_params(state, L, V_.data(), "optimizer.exp_avg_sq.");
    if (use_ema_) load_params(state, L, E_.data(), "ema.");
}

void TrainingRun::print_header(bool resume) const {
    if (opt_.quiet) return;
    std::fprintf(stderr, "%s %s on %s: %lld train / %lld test images, %lldx%lld input, stem stride %lld; %s\n",
                 pretrain() ? "FCMAE pre-training" : "training", cfg_.name.c_str(), opt_.data.kind.c_str(),
                 (long long)n_train_, (long long)data_.test.size(), (long long)cfg_.input_size,
                 (long long)cfg_.input_size, (long long)cfg_.stem_stride, runtime_summary().c_str());
    std::string extra = pretrain() ? strfmt(", mask ratio %.2g", opt_.mask_ratio)
                                   : strfmt(", drop path %.2g, smoothing %.2g", opt_.drop_path, opt_.smoothing);
    if (use_ema_) extra += strfmt(", EMA %.5g", opt_.ema);
    if (resume) extra += strfmt("; resuming at step %lld", (long long)rs_.step);
    std::fprintf(stderr, "%lld epochs x %lld steps of %lld, lr %.3g (warmup %.2g epochs, cosine to %.2g), AdamW %.2g/%.3g, wd %.3g%s\n",
                 (long long)opt_.epochs, (long long)spe_, (long long)opt_.batch, opt_.lr, opt_.warmup_epochs,
                 opt_.min_lr, opt_.beta1, opt_.beta2, opt_.weight_decay, extra.c_str());
    if (opt_.verbose) std::fprintf(stderr, "%s", runtime_details(task_->gemm_impl()).c_str());
}

void TrainingRun::save_state() {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.set_metadata(kConfigKey, cfg_.to_json().dump());
    w.set_metadata(kOptionsKey, opt_.to_json().dump());
    w.set_metadata(kStateKey, rs_.to_json().dump());
    const ParamLayout& L = task_->layout();
    add_params(w, L, P_.data(), "");
    add_params(w, L, M_.data(), "optimizer.exp_avg.");
    add_params(w, L, V_.data(), "optimizer.exp_avg_sq.");
    if (use_ema_) add_params(w, L, E_.data(), "ema.");
    w.write(state_path_);
    saved_step_ = rs_.step;
}

// One optimizer step on batch `it` of epoch `epoch`; returns the loss.
double TrainingRun::step(int64_t epoch, int64_t it, const std::vector<int64_t>& perm) {
    const double t0 = now_seconds();
    batch_->fill(data_.train, stream_key(opt_.seed, kRngAugment, (uint64_t)epoch), perm.data() + it * opt_.batch);
    const double lr =
        lr_at((double)epoch + (double)it / (double)spe_, opt_.lr, opt_.min_lr, opt_.warmup_epochs, (double)opt_.epochs);
    G_.zero();
    const double loss = task_->train_step(P_.data(), G_.data(), batch_->images.data(), batch_->labels.data(), rs_.step,
                                          &rs_.epoch_correct);
    if (!std::isfinite(loss)) {
        progress_.done();
        if (rs_.step == 0)  // no update has happened yet: the learning rate is not the cause
            fail("step 1: the loss is %g before any update: the initial weights or the data are unusable",
                 loss);
        fail("step %lld: the loss is %g (training diverged; try a lower --lr). Checkpoints in %s are unchanged.",
             (long long)rs_.step + 1, loss, opt_.out.c_str());
    }
    adamw_.update(P_.data(), M_.data(), V_.data(), G_.data(), lr, rs_.step + 1);
    if (use_ema_) ema_update(E_.data(), P_.data(), (int64_t)P_.size(), (float)opt_.ema);
    rs_.step++;
    steps_this_run_++;
    rs_.epoch_loss_sum += loss;
    rs_.epoch_seen += opt_.batch;
    rs_.epoch_train_s += now_seconds() - t0;
    if (rs_.first_loss_n < 10) {
        rs_.first_loss_sum += loss;
        rs_.first_loss_n++;
    }
    result_.last_train_loss = loss;
    if (!opt_.quiet) {
        const double ips = (double)rs_.epoch_seen / std::max(rs_.epoch_train_s, 1e-9);
        const double eta = (double)(total_steps_ - rs_.step) * (double)opt_.batch / std::max(ips, 1e-9);
        progress_.update(strfmt("epoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.2e  %.0f img/s  ETA %s",
                                (long long)epoch + 1, (long long)opt_.epochs, (long long)it + 1, (long long)spe_,
                                rs_.epoch_loss_sum / (double)(rs_.epoch_seen / opt_.batch), lr, ips,
                                format_duration(eta).c_str()),
                         it + 1 == spe_);
    }
    return loss;
}

// After an epoch's last step: evaluate, append the metrics line, write last/best and the state.
void TrainingRun::end_epoch(int64_t epoch) {
    progress_.done();
    const double t0 = now_seconds();
    const double train_loss = rs_.epoch_loss_sum / (double)spe_;
    const double train_acc = (double)rs_.epoch_correct / (double)rs_.epoch_seen;
    const double ips = (double)rs_.epoch_seen / std::max(rs_.epoch_train_s, 1e-9);
    EpochReport rep = task_->evaluate(P_.data(), use_ema_ ? E_.data() : nullptr, epoch);
    const double epoch_time = rs_.epoch_train_s + (now_seconds() - t0);

    Json m = Json::object();
    m.set("epoch", epoch + 1).set("step", rs_.step);
    m.set("lr", lr_at((double)epoch + 1, opt_.lr, opt_.min_lr, opt_.warmup_epochs, (double)opt_.epochs));
    m.set("train_loss", train_loss);
    if (!pretrain()) m.set("train_acc", train_acc);
    for (const auto& kv : rep.metrics.members()) m.set(kv.first, kv.second);
    m.set("images_per_s", ips).set("epoch_time_s", epoch_time).set("elapsed_s", now_seconds() - t_start_);
    append_line(path_join(opt_.out, "metrics.jsonl"), m.dump());

    std::vector<std::pair<std::string, std::string>> meta = {{"convnextv2.task", opt_.task},
                                                             {"convnextv2.epoch", std::to_string(epoch + 1)}};
    const ParamLayout& L = task_->layout();
    save_weights(path_join(opt_.out, "last.safetensors"), cfg_, L, P_.data(), meta);
    if (!rs_.has_best || rep.score > rs_.best_score) {
        rs_.best_score = rep.score;
        rs_.has_best = true;
        meta.push_back({"convnextv2.weights", rep.ema_better ? "ema" : "raw"});
        save_weights(path_join(opt_.out, "best.safetensors"), cfg_, L, rep.ema_better ? E_.data() : P_.data(), meta);
    }
    rs_.epoch_loss_sum = rs_.epoch_train_s = 0;
    rs_.epoch_correct = rs_.epoch_seen = 0;
    save_state();
    if (!opt_.quiet) {
        const std::string train_part = pretrain() ? strfmt("train loss %.4f", train_loss)
                                                  : strfmt("train loss %.4f acc %.2f%%", train_loss, 100 * train_acc);
        std::fprintf(stderr, "epoch %lld/%lld: %s | %s | %.0f img/s, %s\n", (long long)epoch + 1, (long long)opt_.epochs,
                     train_part.c_str(), rep.summary.c_str(), ips, format_duration(epoch_time).c_str());
    }
    result_.test_acc = rep.test_acc;
    result_.test_top5 = rep.test_top5;
    result_.test_loss = rep.test_loss;
}

// Saves (unless this step is saved already) and tells how to continue, threads included: the same
// count keeps the continuation bit-identical.
void TrainingRun::stop() {
    progress_.done();
    if (saved_step_ != rs_.step) save_state();
    result_.stopped_early = true;
    result_.interrupted = g_stop_requested;
    if (!opt_.quiet)
        std::fprintf(stderr, "%s at step %lld; continue with: convnextv2 %s --resume --out %s --threads %lld\n",
                     result_.interrupted ? "interrupted" : "stopped", (long long)rs_.step, opt_.task.c_str(),
                     opt_.out.c_str(), (long long)rs_.threads);
}

void TrainingRun::fill_result() {
    result_.steps = rs_.step;
    result_.first_train_loss = rs_.first_loss_sum / (double)std::max<int64_t>(1, rs_.first_loss_n);
    result_.best_acc = pretrain() ? 0 : rs_.best_score;
    result_.best_loss = pretrain() ? -rs_.best_score : 0;
}

TrainResult TrainingRun::run() {
    if (rs_.step >= total_steps_ && !epoch_end_pending()) {
        fill_result();
        result_.already_complete = true;
        return result_;
    }
    StopSignals signals;
    t_start_ = now_seconds();
    if (epoch_end_pending()) end_epoch(rs_.step / spe_ - 1);
    for (int64_t epoch = rs_.step / spe_; epoch < opt_.epochs; epoch++) {
        const std::vector<int64_t> perm = epoch_permutation(n_train_, opt_.seed, epoch);
        for (int64_t it = rs_.step % spe_; it < spe_; it++) {
            if (g_stop_requested) {  // asked during the last epoch end
                stop();
                break;
            }
            step(epoch, it, perm);
            if (opt_.save_every > 0 && rs_.step % opt_.save_every == 0) save_state();
            if ((opt_.stop_after_steps > 0 && steps_this_run_ >= opt_.stop_after_steps) || g_stop_requested) {
                stop();
                break;
            }
        }
        if (result_.stopped_early) break;
        end_epoch(epoch);
    }
    fill_result();
    return result_;
}

}  // namespace

TrainResult run_train(const TrainOptions& opt, bool resume) { return TrainingRun(opt, resume).run(); }

}  // namespace cnx
