// The training loop shared by `train` and `pretrain`: data -> augmentation -> the task's forward and
// backward -> AdamW (+EMA), a progress line, evaluation after each epoch, metrics.jsonl, atomic
// checkpoints and bit-identical --resume. The tasks: tools/supervised.cpp, tools/pretrain.cpp.
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
#include "core/dist.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/allreduce.h"
#include "nn/convert.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/parallel.h"
#include "tools/curves.h"
#include "tools/data_parallel.h"
#include "tools/progress.h"
#include "tools/runtime.h"

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

ModelOptions model_options(const TrainOptions& opt, bool training) {
    ModelOptions m;
    m.training = training;
    m.precision = parse_precision(opt.precision);
    return m;
}

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
    FloatBuffer params_, grads_, exp_avg_, exp_avg_sq_, ema_;  // flat, one layout (AdamW moments m, v)
    std::vector<bf16> params16_;  // bf16 precision: params_ rounded, refreshed by each AdamW step
    int64_t local_batch_ = 0;     // this rank's share of the global batch opt_.batch
    std::unique_ptr<GradientAllreduce> allreduce_;  // data-parallel runs only
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
    void take_folder();
    TrainOptions resumed_options(const TrainOptions& given, const SafetensorsReader& state) const;
    void load_data();
    void build_task();
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
    if (dist_is_root()) take_folder();  // under mpirun rank 0 alone writes the output folder
    std::unique_ptr<SafetensorsReader> state;
    if (resume) {
        state.reset(new SafetensorsReader(state_path_));
        opt_ = resumed_options(given, *state);
    }
    opt_.validate();
    if (!dist_is_root()) opt_.quiet = true;  // and alone reports progress
    const int threads = apply_threads(opt_.threads, opt_.quiet);
    load_data();
    check_same_run(opt_.to_json(), data_);
    // Before the model exists: its per-thread buffers are sized by the thread count.
    if (resume) restore_run_state(*state, given.threads);
    build_task();
    if (resume) {
        restore_tensors(*state);
    } else {
        task_->init_params(params_.data());
        if (use_ema_) std::copy(params_.data(), params_.data() + params_.size(), ema_.data());
        rs_.threads = threads;
        if (dist_is_root()) write_file_atomic(path_join(opt_.out, "metrics.jsonl"), "");  // a fresh run starts a fresh log
    }
    adamw_.init(task_->param_groups(), AdamWConfig{opt_.beta1, opt_.beta2, 1e-8});
    if (!params16_.empty()) to_bf16(params16_.data(), params_.data(), (int64_t)params_.size());
    batch_.reset(new Batch(local_batch_, train_t_));
    print_header(resume);
}

// The output folder, locked for this run; what dead runs left there removed.
void TrainingRun::take_folder() {
    make_dirs(opt_.out);
    lock_.reset(new FolderLock(opt_.out));
    const int stale = remove_stale_temp_files(opt_.out);
    if (stale && !opt_.quiet)
        std::fprintf(stderr, "removed %d temporary file%s left in %s by a run that died while saving\n", stale,
                     stale == 1 ? "" : "s", opt_.out.c_str());
}

// The saved run's recipe with this invocation's run control.
TrainOptions TrainingRun::resumed_options(const TrainOptions& given, const SafetensorsReader& state) const {
    TrainOptions o = read_train_options(state);
    if (o.task != given.task)
        fail("%s holds a '%s' run; continue it with convnextv2 %s --resume", state_path_.c_str(), o.task.c_str(),
             o.task.c_str());
    o.out = given.out;
    o.threads = given.threads;
    o.stop_after_steps = given.stop_after_steps;
    o.save_every = given.save_every;
    o.verbose = given.verbose;
    o.quiet = given.quiet;
    if (!given.data.path.empty()) o.data.path = given.data.path;
    return o;
}

// The dataset, the model config it implies, the epoch's shape and the training transform.
void TrainingRun::load_data() {
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
    train_t_.erase_prob = (float)opt_.reprob;
    train_t_.erase_mode = parse_erase_mode(opt_.remode);
    train_t_.interpolation = parse_interpolation(opt_.train_interpolation);
    train_t_.crop_pct = (float)opt_.crop_pct;
    if (!opt_.aa.empty()) set_rand_augment(train_t_, opt_.aa);
}

// The task (its models) and the flat buffers, once the memory they take is known to fit.
void TrainingRun::build_task() {
    use_ema_ = opt_.ema > 0;
    // The classifier, or the masked encoder of pre-training (its dense decoder is small beside it);
    // weights, gradients, two moments and the EMA.
    ModelOptions model = model_options(opt_, true);
    if (pretrain()) {
        model.with_head = false;
        model.mask_ratio = opt_.mask_ratio;
    }
    local_batch_ = local_batch(opt_.batch);
    check_model_fits(cfg_, local_batch_, model, use_ema_ ? 5 : 4);
    Transform eval_t = train_t_;
    eval_t.train = false;
    TrainOptions local = opt_;  // the models hold this rank's share of the batch
    local.batch = local_batch_;
    task_ = pretrain() ? make_pretrain_task(cfg_, local, data_, eval_t) : make_supervised_task(cfg_, local, data_, eval_t);
    const size_t np = (size_t)task_->layout().total;
    if (dist_size() > 1) {
        allreduce_.reset(new GradientAllreduce(task_->layout().tensor_spans(), kGradientBucketFloats));
        task_->set_data_parallel(local_batch_ * dist_rank(), allreduce_->ready_hook());
    }
    params_.resize(np);
    grads_.resize(np);
    exp_avg_.resize(np);
    exp_avg_sq_.resize(np);
    if (use_ema_) ema_.resize(np);
    if (model.precision == Precision::kBf16) params16_.resize(np);
}

void TrainingRun::restore_run_state(const SafetensorsReader& state, int64_t requested_threads) {
    rs_ = RunState::from_json(Json::parse(state.meta(kStateKey), state_path_ + ": " + kStateKey), spe_, opt_.epochs,
                              opt_.batch, state_path_);
    if (dist_is_root()) reconcile_metrics(path_join(opt_.out, "metrics.jsonl"), rs_.step / spe_ - (epoch_end_pending() ? 1 : 0));
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
    load_params(state, L, params_.data(), "");
    load_params(state, L, exp_avg_.data(), "optimizer.exp_avg.");
    load_params(state, L, exp_avg_sq_.data(), "optimizer.exp_avg_sq.");
    if (use_ema_) load_params(state, L, ema_.data(), "ema.");
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
    extra += ", " + opt_.precision;
    if (resume) extra += strfmt("; resuming at step %lld", (long long)rs_.step);
    std::fprintf(stderr, "%lld epochs x %lld steps of %lld, lr %.3g (warmup %.2g epochs, cosine to %.2g), AdamW %.2g/%.3g, wd %.3g%s\n",
                 (long long)opt_.epochs, (long long)spe_, (long long)opt_.batch, opt_.lr, opt_.warmup_epochs,
                 opt_.min_lr, opt_.beta1, opt_.beta2, opt_.weight_decay, extra.c_str());
    if (opt_.verbose) std::fprintf(stderr, "%s", runtime_details(task_->gemm_impl()).c_str());
}

void TrainingRun::save_state() {
    saved_step_ = rs_.step;
    if (!dist_is_root()) return;
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.set_metadata(kConfigKey, cfg_.to_json().dump());
    w.set_metadata(kOptionsKey, opt_.to_json().dump());
    w.set_metadata(kStateKey, rs_.to_json().dump());
    const ParamLayout& L = task_->layout();
    add_params(w, L, params_.data(), "");
    add_params(w, L, exp_avg_.data(), "optimizer.exp_avg.");
    add_params(w, L, exp_avg_sq_.data(), "optimizer.exp_avg_sq.");
    if (use_ema_) add_params(w, L, ema_.data(), "ema.");
    w.write(state_path_);
}

// One optimizer step on batch `it` of epoch `epoch`; returns the loss.
double TrainingRun::step(int64_t epoch, int64_t it, const std::vector<int64_t>& perm) {
    const double t0 = now_seconds();
    // this rank's slice of the global batch
    batch_->fill(data_.train, stream_key(opt_.seed, kRngAugment, (uint64_t)epoch),
                 perm.data() + it * opt_.batch + local_batch_ * dist_rank());
    const double lr =
        lr_at((double)epoch + (double)it / (double)spe_, opt_.lr, opt_.min_lr, opt_.warmup_epochs, (double)opt_.epochs);
    grads_.zero();
    bf16* params16 = params16_.empty() ? nullptr : params16_.data();
    if (allreduce_) allreduce_->begin_step(grads_.data());
    int64_t correct = 0;
    double loss = task_->train_step(Weights(params_.data(), params16), grads_.data(), batch_->images.data(),
                                    batch_->labels.data(), rs_.step, &correct);
    if (allreduce_) {
        if (!std::isfinite(loss)) allreduce_->ready(0, (int64_t)grads_.size());  // no backward ran: keep in step
        allreduce_->finish();
    }
    const StepTotals totals = sum_step(loss, correct, g_stop_requested);
    loss = totals.loss;
    rs_.epoch_correct += totals.correct;
    if (totals.stop) g_stop_requested = true;
    if (!std::isfinite(loss)) {
        progress_.done();
        if (rs_.step == 0)  // no update has happened yet: the learning rate is not the cause
            fail("step 1: the loss is %g before any update: the initial weights or the data are unusable",
                 loss);
        fail("step %lld: the loss is %g (training diverged; try a lower --lr). Checkpoints in %s are unchanged.",
             (long long)rs_.step + 1, loss, opt_.out.c_str());
    }
    adamw_.update(params_.data(), exp_avg_.data(), exp_avg_sq_.data(), grads_.data(), lr, rs_.step + 1, params16);
    if (use_ema_) ema_update(ema_.data(), params_.data(), (int64_t)params_.size(), (float)opt_.ema);
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
        progress_.update(strfmt("epoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.2e  %.0f img/s %s  ETA %s",
                                (long long)epoch + 1, (long long)opt_.epochs, (long long)it + 1, (long long)spe_,
                                rs_.epoch_loss_sum / (double)(rs_.epoch_seen / opt_.batch), lr, ips,
                                opt_.precision.c_str(), format_duration(eta).c_str()),
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
    EpochReport rep = task_->evaluate(params_.data(), use_ema_ ? ema_.data() : nullptr, epoch);
    const double epoch_time = rs_.epoch_train_s + (now_seconds() - t0);

    Json m = Json::object();
    m.set("epoch", epoch + 1).set("step", rs_.step);
    m.set("lr", lr_at((double)epoch + 1, opt_.lr, opt_.min_lr, opt_.warmup_epochs, (double)opt_.epochs));
    m.set("train_loss", train_loss);
    if (!pretrain()) m.set("train_acc", train_acc);
    for (const auto& kv : rep.metrics.members()) m.set(kv.first, kv.second);
    m.set("images_per_s", ips).set("epoch_time_s", epoch_time).set("elapsed_s", now_seconds() - t_start_);
    m.set("precision", opt_.precision);
    if (dist_size() > 1) m.set("ranks", dist_size());
    if (dist_is_root()) {
        append_line(path_join(opt_.out, "metrics.jsonl"), m.dump());
        write_curves(path_join(opt_.out, "metrics.jsonl"), path_join(opt_.out, "curves.svg"), rep.picture);
    }

    std::vector<std::pair<std::string, std::string>> meta = {{"convnextv2.task", opt_.task},
                                                             {"convnextv2.epoch", std::to_string(epoch + 1)},
                                                             {"convnextv2.precision", opt_.precision},
                                                             {kEvalCropPctKey, data_.train.small_images ? "1" : strfmt("%.17g", opt_.crop_pct)},
                                                             {kEvalInterpolationKey, opt_.train_interpolation}};
    const ParamLayout& L = task_->layout();
    if (dist_is_root()) save_weights(path_join(opt_.out, "last.safetensors"), cfg_, L, params_.data(), meta);
    if (!rs_.has_best || rep.score > rs_.best_score) {
        rs_.best_score = rep.score;
        rs_.has_best = true;
        meta.push_back({"convnextv2.weights", rep.ema_better ? "ema" : "raw"});
        if (dist_is_root())
            save_weights(path_join(opt_.out, "best.safetensors"), cfg_, L, rep.ema_better ? ema_.data() : params_.data(), meta);
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
    const std::string launcher = dist_size() > 1 ? strfmt("mpirun -np %d ", dist_size()) : "";
    if (!opt_.quiet)
        std::fprintf(stderr, "%s at step %lld; continue with: %sconvnextv2 %s --resume --out %s --threads %lld\n",
                     result_.interrupted ? "interrupted" : "stopped", (long long)rs_.step, launcher.c_str(),
                     opt_.task.c_str(), opt_.out.c_str(), (long long)rs_.threads);
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
