// Training runs as library calls, so the tests drive the same code as the CLI:
//   task "train"     supervised training, from scratch or fine-tuning a checkpoint (--init)
//   task "pretrain"  FCMAE masked pre-training (convnextv2/fcmae.h)
// One loop serves both (data order, augmentation, schedule, AdamW, EMA, progress line, evaluation
// after each epoch, metrics.jsonl, atomic checkpoints, bit-identical --resume); a Task supplies
// what differs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/model.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "tools/augment.h"
#include "tools/curves.h"
#include "tools/dataset.h"

namespace cnx {

struct TrainOptions {
    std::string task = "train";   // train or pretrain
    std::string model = "atto";
    DatasetOptions data;
    int64_t epochs = 3;
    int64_t batch = 128;
    double lr = 2e-3;             // peak learning rate (after warmup)
    double min_lr = 1e-6;
    double warmup_epochs = 0.5;
    double weight_decay = 0.05;
    double layer_decay = 1.0;     // layer-wise lr decay; 1 = none
    std::string layer_decay_type = "single";  // single or group (convnextv2/params.h)
    double drop_path = 0.1;       // max stochastic-depth rate, linear over blocks
    double smoothing = 0.1;       // label smoothing
    double ema = 0.0;             // EMA decay of the weights (0: off)
    double head_init_scale = 0.001;
    double beta1 = 0.9, beta2 = 0.999;
    int64_t input_size = 32;
    int64_t stem_stride = 2;
    int64_t pad = 4;              // random-crop padding (small images)
    bool hflip = true;
    double crop_min_scale = 0.08; // random-resized-crop area range (folders): 0.08 train, 0.2 pretrain
    double reprob = 0;            // random erasing probability (timm RandomErasing; the paper fine-tunes with 0.25)
    std::string remode = "pixel"; // random erasing fill: pixel, rand or const
    std::string aa;               // RandAugment policy in timm's grammar (rand-m9-mstd0.5-inc1); "" none
    std::string train_interpolation = "bicubic";  // resizing of training images (and RandAugment's geometry)
    double crop_pct = 0.875;      // folders: evaluation resizes the shorter side to input/crop_pct, centre crop
    double mixup = 0, cutmix = 0; // Mixup / CutMix Beta alphas (0: off), timm's Mixup
    double mixup_prob = 1.0, mixup_switch_prob = 0.5;
    std::string mixup_mode = "batch";  // batch, pair or elem
    double mask_ratio = 0.6;      // pretrain: share of patches removed
    std::string init;             // checkpoint to fine-tune from (backbone kept, head re-initialised)
    uint64_t seed = 0;
    int64_t eval_batch = 250;
    int64_t max_train_samples = 0;  // 0: all (to train on a subset)
    std::string precision = "fp32";  // of the GEMMs: fp32 or bf16 (nn/precision.h)
    // Run control (not part of the recipe; may change on --resume):
    std::string out = "runs/train";
    int64_t threads = 0;
    int64_t stop_after_steps = 0;  // save state and stop after this many steps in total (0: never)
    int64_t save_every = 0;        // also save the resume state every N steps (0: each epoch only)
    bool verbose = false;
    bool quiet = false;            // no progress line (tests)

    Json to_json() const;  // the recipe part (stored in checkpoints)
    // The recipe read back from a file (`where` names it in errors); every field is checked as its
    // flag is, and the whole by validate().
    static TrainOptions from_json(const Json& j, const std::string& where);
    // Throws cnx::Error when a recipe field is out of its flag's range (or the task is unknown).
    void validate() const;
};

// A recipe field: its key in the saved options ("data.kind"), its flag ("" when none) and, for
// numbers, its range (the flag parser uses the same).
struct RecipeField {
    const char* key;
    const char* flag;
    double lo, hi;
};
std::vector<RecipeField> recipe_fields();
RecipeField recipe_field(const std::string& key);

// Metadata keys of a run's state file.
constexpr const char* kOptionsKey = "convnextv2.train_options";
constexpr const char* kStateKey = "convnextv2.state";

// Where a run stands, saved beside the weights in state.safetensors.
struct RunState {
    int64_t step = 0;
    int64_t epochs_done = 0;     // epochs whose end (evaluation, metrics line, checkpoints) is done
    int64_t threads = 0;         // threads the run used: the same count keeps a resume bit-identical
    double best_score = 0;
    bool has_best = false;
    double epoch_loss_sum = 0;   // over the current epoch's steps so far
    int64_t epoch_correct = 0, epoch_seen = 0;
    double epoch_train_s = 0;    // seconds spent on the current epoch's steps, across resumes
    double first_loss_sum = 0;   // the first (up to) 10 steps' losses
    int64_t first_loss_n = 0;

    Json to_json() const;
    // Reads and checks a saved state against the run's shape (steps per epoch, epochs, batch):
    // throws cnx::Error naming `where` for any value the run could not have saved.
    static RunState from_json(const Json& j, int64_t steps_per_epoch, int64_t epochs, int64_t batch,
                              const std::string& where);
};

struct TrainResult {
    int64_t steps = 0;
    double last_train_loss = 0;
    double first_train_loss = 0;   // mean loss of the first 10 steps
    double test_acc = 0, test_top5 = 0, test_loss = 0;  // pretrain: test_loss is the held-out reconstruction loss
    double best_acc = 0;           // supervised: best test accuracy
    double best_loss = 0;          // pretrain: best held-out loss
    bool stopped_early = false;    // --stop-after-steps, SIGINT or SIGTERM (state saved)
    bool interrupted = false;      // by SIGINT or SIGTERM
    bool already_complete = false; // resumed a run that had no steps left
};

// Trains as the options say; with resume, continues the run saved in options.out (its recipe must
// match). Writes out/last.safetensors, out/best.safetensors, out/state.safetensors, out/metrics.jsonl.
TrainResult run_train(const TrainOptions& opt, bool resume);

// The classifier's options for a run's recipe: training or evaluation, in the recipe's precision.
ModelOptions model_options(const TrainOptions& opt, bool training);

struct EvalResult {
    double loss = 0, top1 = 0, top5 = 0;  // accuracies in [0, 1]
    int64_t count = 0;
    int64_t classes = 0;
    std::vector<int64_t> confusion;  // [classes][classes] images: row the true class, column the top-1 prediction
};
// Evaluates params on a dataset with an inference model (any batch; the last batch is padded).
EvalResult evaluate(ConvNeXtV2& net, Weights params, const Dataset& d, const Transform& t);

// An epoch's evaluation, as a task reports it.
struct EpochReport {
    Json metrics = Json::object();  // fields for the metrics line
    std::string summary;            // "test loss ... acc ..." for the epoch line
    double score = 0;               // higher is better: picks best.safetensors
    bool ema_better = false;        // the EMA weights scored higher than the raw ones
    double test_acc = 0, test_top5 = 0, test_loss = 0;
    CurvesPicture picture;          // pre-training: the held-out reconstructions, shown beside the curves
};

// What differs between supervised training and pre-training; a task holds what both need.
class Task {
public:
    Task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data, const Transform& eval_t)
        : cfg_(cfg), opt_(opt), data_(data), eval_t_(eval_t) {}
    virtual ~Task() = default;
    const ModelConfig& config() const { return cfg_; }
    virtual const ParamLayout& layout() const = 0;  // flat layout with the checkpoint names
    virtual std::vector<ParamGroup> param_groups() const = 0;
    virtual void init_params(float* params) = 0;    // a fresh run (not a resume)
    // Forward and backward of one batch: accumulates the gradients, returns the loss, adds the
    // number of correct predictions to *correct (supervised). The task may mix the images in place
    // (Mixup/CutMix).
    virtual double train_step(Weights params, float* grads, float* images, const int32_t* labels,
                              int64_t step, int64_t* correct) = 0;
    // After each epoch: evaluate the weights (and the EMA weights when given).
    virtual EpochReport evaluate(const float* params, const float* ema, int64_t epoch) = 0;
    virtual const char* gemm_impl() const = 0;
    // Data-parallel: this rank's first sample in the global batch (its random streams), and where
    // backward reports final gradient spans.
    virtual void set_data_parallel(int64_t first_sample, ConvNeXtV2::GradReady ready) = 0;

protected:
    ModelConfig cfg_;
    TrainOptions opt_;
    const DataSplits& data_;
    Transform eval_t_;
};

std::unique_ptr<Task> make_supervised_task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data,
                                           const Transform& eval_t);
std::unique_ptr<Task> make_pretrain_task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data,
                                         const Transform& eval_t);

// The recipe options stored in a run's state file.
TrainOptions read_train_options(const std::string& state_path);
TrainOptions read_train_options(const SafetensorsReader& state);

}  // namespace cnx
