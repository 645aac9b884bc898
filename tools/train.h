// Supervised training (from scratch, or fine-tuning with --init) and evaluation, as library calls
// so the tests drive the same code as the CLI.
#pragma once

#include <cstdint>
#include <string>

#include "convnextv2/config.h"
#include "convnextv2/model.h"
#include "core/json.h"
#include "tools/augment.h"
#include "tools/dataset.h"

namespace cnx {

struct TrainOptions {
    std::string model = "atto";
    DatasetOptions data;
    int64_t epochs = 3;
    int64_t batch = 128;
    double lr = 2e-3;             // peak learning rate (after warmup)
    double min_lr = 1e-6;
    double warmup_epochs = 0.5;
    double weight_decay = 0.05;
    double layer_decay = 1.0;     // layer-wise lr decay ('single' mode); 1 = none
    double drop_path = 0.1;       // max stochastic-depth rate, linear over blocks
    double smoothing = 0.1;       // label smoothing
    double ema = 0.0;             // EMA decay of the weights (0: off)
    double head_init_scale = 0.001;
    double beta1 = 0.9, beta2 = 0.999;
    int64_t input_size = 32;
    int64_t stem_stride = 2;
    int64_t pad = 4;              // random-crop padding (small images)
    bool hflip = true;
    std::string init;             // checkpoint to fine-tune from (backbone kept, head re-initialised)
    uint64_t seed = 0;
    int64_t eval_batch = 250;
    int64_t max_train_samples = 0;  // 0: all (to train on a subset)
    // Run control (not part of the recipe; may change on --resume):
    std::string out = "runs/train";
    int64_t threads = 0;
    int64_t stop_after_steps = 0;  // save state and stop after this many steps in total (0: never)
    int64_t save_every = 0;        // also save the resume state every N steps (0: each epoch only)
    bool verbose = false;
    bool quiet = false;            // no progress line (tests)

    Json to_json() const;                    // the recipe part (stored in checkpoints)
    static TrainOptions from_json(const Json& j);
};

struct TrainResult {
    int64_t steps = 0;
    double last_train_loss = 0;
    double first_train_loss = 0;   // mean loss of the first 10 steps
    double test_acc = 0, test_top5 = 0, test_loss = 0;
    double best_acc = 0;
    bool stopped_early = false;    // --stop-after-steps or SIGINT
    bool already_complete = false; // resumed a run that had no steps left
};

// Trains as the options say; with resume, continues the run saved in options.out (its recipe must
// match). Writes out/last.safetensors, out/best.safetensors, out/state.safetensors, out/metrics.jsonl.
TrainResult run_train(const TrainOptions& opt, bool resume);

struct EvalResult {
    double loss = 0, top1 = 0, top5 = 0;  // accuracies in [0, 1]
    int64_t count = 0;
};
// Evaluates params on a dataset with an inference model (any batch; the last batch is padded).
EvalResult evaluate(ConvNeXtV2& net, const float* params, const Dataset& d, const Transform& t);

// The recipe options stored in a run's state file.
TrainOptions read_train_options(const std::string& state_path);

}  // namespace cnx
