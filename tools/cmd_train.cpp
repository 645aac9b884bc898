// convnextv2 train: flags -> TrainOptions -> run_train.
#include <cstdio>

#include "core/json.h"

#include "core/check.h"
#include "core/fileio.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/train.h"

namespace cnx {

static const Json* saved_field(const Json& recipe, const std::string& key) {
    if (key.rfind("data.", 0) == 0) {
        const Json* d = recipe.find("data");
        return d ? d->find(key.substr(5)) : nullptr;
    }
    return recipe.find(key);
}

// Recipe flags take their ranges from the recipe's field list, which also checks saved runs.
static int64_t recipe_int(Args& a, const char* key, int64_t def, const std::string& help) {
    const RecipeField f = recipe_field(key);
    return a.integer(f.flag, def, help, (int64_t)f.lo, (int64_t)f.hi);
}
static double recipe_number(Args& a, const char* key, double def, const std::string& help) {
    const RecipeField f = recipe_field(key);
    return a.number(f.flag, def, help, f.lo, f.hi);
}

// Declares the dataset flags shared by train and eval.
void dataset_flags(Args& a, DatasetOptions& d) {
    d.kind = a.str("dataset", d.kind, "fashion-mnist, idx, cifar10, folder or synthetic");
    d.path = a.str("data", d.path, "dataset folder (fashion-mnist default: " + std::string(default_fashion_mnist_dir()) + ")");
    d.train_images = a.str("train-images", "", "idx: training image file");
    d.train_labels = a.str("train-labels", "", "idx: training label file");
    d.test_images = a.str("test-images", "", "idx: test image file");
    d.test_labels = a.str("test-labels", "", "idx: test label file");
    d.folder_channels = (int)recipe_int(a, "data.folder_channels", d.folder_channels, "folder: 3 (RGB) or 1 (gray)");
    d.val_split = (float)recipe_number(a, "data.val_split", d.val_split, "folder without train/ and val/: held-out share");
    d.synthetic_train = recipe_int(a, "data.synthetic_train", d.synthetic_train, "synthetic: training images");
    d.synthetic_test = recipe_int(a, "data.synthetic_test", d.synthetic_test, "synthetic: test images");
    d.synthetic_size = (int)recipe_int(a, "data.synthetic_size", d.synthetic_size, "synthetic: image side");
    d.synthetic_channels = (int)recipe_int(a, "data.synthetic_channels", d.synthetic_channels, "synthetic: 1 or 3");
    d.synthetic_classes = (int)recipe_int(a, "data.synthetic_classes", d.synthetic_classes, "synthetic: classes");
    if (d.folder_channels == 2 || d.synthetic_channels == 2) fail("channels must be 1 or 3");
    max_image_pixels_flag(a);
}

// The paper's ImageNet-1K fine-tuning recipes (Tables 9-11 and the official TRAINING.md), in the
// official code's terms: lr = blr x batch / 256 (so the lr follows the batch a machine can hold),
// AdamW 0.9/0.999, min lr 1e-6, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (pixel),
// bicubic resizing, evaluation crop 224/256, head init 0.001, EMA 0.9999.
struct FinetuneRecipe {
    const char* model;
    double blr;
    int64_t epochs;
    double warmup, layer_decay;
    const char* layer_decay_type;
    double weight_decay, drop_path, smoothing, mixup, cutmix;
};
static const FinetuneRecipe kFinetuneRecipes[] = {
    {"atto", 2e-4, 600, 0, 0.9, "single", 0.3, 0.1, 0.2, 0, 0},
    {"femto", 2e-4, 600, 0, 0.9, "single", 0.05, 0.0, 0.2, 0.3, 0.3},
    {"pico", 2e-4, 600, 0, 0.9, "single", 0.3, 0.0, 0.2, 0.3, 0.3},
    {"nano", 2e-4, 600, 0, 0.9, "single", 0.3, 0.1, 0.2, 0.5, 0.5},
    {"tiny", 8e-4, 300, 40, 0.9, "single", 0.05, 0.2, 0.1, 0.8, 1.0},
    // base/large: TRAINING.md's blr (the paper's table prints 6.25e-3, ten times it); huge: the paper's
    {"base", 6.25e-4, 100, 20, 0.6, "group", 0.05, 0.1, 0.1, 0.8, 1.0},
    {"large", 6.25e-4, 100, 20, 0.6, "group", 0.05, 0.2, 0.1, 0.8, 1.0},
    {"huge", 1.25e-3, 50, 10, 0.75, "group", 0.05, 0.3, 0.1, 0.8, 1.0},
};

// --recipe finetune-<model>: the recipe's values become the defaults of their flags.
static const FinetuneRecipe* apply_recipe(const std::string& name, TrainOptions& o) {
    if (name.empty()) return nullptr;
    for (const FinetuneRecipe& r : kFinetuneRecipes) {
        if (name != std::string("finetune-") + r.model) continue;
        o.model = r.model;
        o.epochs = r.epochs;
        o.warmup_epochs = r.warmup;
        o.layer_decay = r.layer_decay;
        o.layer_decay_type = r.layer_decay_type;
        o.weight_decay = r.weight_decay;
        o.drop_path = r.drop_path;
        o.smoothing = r.smoothing;
        o.mixup = r.mixup;
        o.cutmix = r.cutmix;
        o.head_init_scale = 0.001;
        o.ema = 0.9999;
        o.aa = "rand-m9-mstd0.5-inc1";
        o.reprob = 0.25;
        o.remode = "pixel";
        o.train_interpolation = "bicubic";
        o.crop_pct = 0.875;
        return &r;
    }
    fail("--recipe '%s' is unknown: the recipes are finetune-atto, -femto, -pico, -nano, -tiny, -base, -large, -huge", name.c_str());
}

// The recipe flags of `train` and `pretrain` into o, whose defaults the task has set.
static void recipe_flags(Args& a, TrainOptions& o) {
    const bool pre = o.task == "pretrain";
    const FinetuneRecipe* recipe =
        pre ? nullptr
            : apply_recipe(a.str("recipe", "", "finetune-<model>: the paper's ImageNet fine-tuning recipe of that model as defaults (README)"), o);
    o.model = a.str("model", o.model, "architecture: atto femto pico nano tiny base large huge");
    if (recipe && o.model != recipe->model)
        fail("--recipe finetune-%s is the recipe of %s, but --model is %s", recipe->model, recipe->model, o.model.c_str());
    dataset_flags(a, o.data);
    if (o.data.kind == "folder") {  // ImageNet-style defaults for image folders
        o.input_size = 224;
        o.stem_stride = 4;
    }
    o.epochs = recipe_int(a, "epochs", o.epochs, "epochs");
    const bool short_run = o.epochs <= 10 && !recipe;
    o.batch = recipe_int(a, "batch", o.batch, "images per step");
    const double blr = a.number("blr", pre ? 1.5e-4 : recipe ? recipe->blr : 0,
                                "base learning rate: lr = blr x batch / 256 (unless --lr; train: 0 = use --lr's default)", 0, 10);
    if (blr > 0) o.lr = blr * (double)o.batch / 256.0;
    o.lr = recipe_number(a, "lr", o.lr, blr > 0 ? "peak learning rate (default from --blr)" : "peak learning rate");
    o.min_lr = recipe_number(a, "min_lr", o.min_lr, "final learning rate of the cosine");
    o.warmup_epochs = recipe_number(a, "warmup_epochs", pre ? 0.05 * (double)o.epochs : o.warmup_epochs,
                                    pre ? "linear warmup from 0 (default: 5% of the epochs, 40 of 800 in the paper)"
                                        : "linear warmup from 0 (epochs, fractional)");
    o.weight_decay = recipe_number(a, "weight_decay", o.weight_decay, "AdamW decoupled weight decay");
    o.beta2 = recipe_number(a, "beta2", o.beta2, "AdamW beta2");
    if (pre) {
        o.mask_ratio = recipe_number(a, "mask_ratio", o.mask_ratio, "share of patches removed, in (0, 1]");
    } else {
        o.init = a.str("init", "", "checkpoint to fine-tune from (encoder kept, head re-initialised; .safetensors or .pt)");
        o.layer_decay = recipe_number(a, "layer_decay", o.init.empty() || recipe ? o.layer_decay : 0.9, "layer-wise lr decay (1: none; 0.9 with --init, the paper's fine-tuning value)");
        o.layer_decay_type = a.str("layer-decay-type", o.layer_decay_type, "single (a layer per block) or group (12 layers, the paper's base/large/huge)");
        // A few epochs are too few for regularisers to pay back what they cost (README: defaults).
        o.drop_path = recipe_number(a, "drop_path", short_run ? 0.0 : o.drop_path,
                                    "max stochastic-depth rate, linear over blocks (default: 0 up to 10 epochs, else 0.1)");
        o.smoothing = recipe_number(a, "smoothing", short_run ? 0.0 : o.smoothing, "label smoothing (default: 0 up to 10 epochs, else 0.1)");
        o.head_init_scale = recipe_number(a, "head_init_scale", o.init.empty() && !recipe ? 1.0 : o.head_init_scale,
                                          "head weight/bias scale at init (default: 1 from scratch, 0.001 with --init as the paper fine-tunes)");
    }
    o.ema = recipe_number(a, "ema", o.ema, "EMA decay of the weights, e.g. 0.9999 (0: off)");
    o.input_size = recipe_int(a, "input_size", o.input_size, "model input side (multiple of 8 x stem stride)");
    o.stem_stride = recipe_int(a, "stem_stride", o.stem_stride, "stem stride: 4 (paper), 2 or 1");
    o.pad = recipe_int(a, "pad", short_run ? 0 : o.input_size / 16,
                       "random-crop padding for small images (default: 0 up to 10 epochs, else input size / 16)");
    o.hflip = !a.flag("no-flip", "no random horizontal flip");
    o.crop_min_scale = recipe_number(a, "crop_min_scale", o.crop_min_scale, "folders: random-resized-crop minimum area");
    o.reprob = recipe_number(a, "reprob", o.reprob, "random erasing probability (timm; 0.25 in the paper's fine-tuning)");
    o.remode = a.str("remode", o.remode, "random erasing fill: pixel (normal per pixel), rand (per channel) or const (0)");
    o.aa = a.str("aa", o.aa, "RandAugment policy, timm's grammar, e.g. rand-m9-mstd0.5-inc1 (the paper's; default none)");
    o.train_interpolation = a.str("train-interpolation", o.train_interpolation, "resizing of training images: bicubic, bilinear or nearest (Pillow's)");
    o.crop_pct = recipe_number(a, "crop_pct", o.crop_pct, "folders: evaluation resizes the shorter side to input size / crop-pct, then takes the centre crop");
    if (!pre) {
        o.mixup = recipe_number(a, "mixup", o.mixup, "Mixup Beta alpha (0: off; timm's Mixup, soft-target loss)");
        o.cutmix = recipe_number(a, "cutmix", o.cutmix, "CutMix Beta alpha (0: off)");
        o.mixup_prob = recipe_number(a, "mixup_prob", o.mixup_prob, "chance that a batch is mixed");
        o.mixup_switch_prob = recipe_number(a, "mixup_switch_prob", o.mixup_switch_prob, "chance of CutMix when both are on");
        o.mixup_mode = a.str("mixup-mode", o.mixup_mode, "batch (one draw per batch), pair or elem");
    }
    o.seed = (uint64_t)recipe_int(a, "seed", 0, "random seed");
    o.eval_batch = recipe_int(a, "eval_batch", o.eval_batch, "images per evaluation step");
    o.max_train_samples = recipe_int(a, "max_train_samples", 0, "train on the first N images of the order (0: all)");
    o.precision = precision_flag(a);
}

// Repeating the original command with --resume is fine; changing the recipe is not. Without --resume,
// a folder that holds a run is never replaced by accident.
static void check_run_folder(const Args& a, const TrainOptions& o, bool resume, bool overwrite) {
    const std::string state = path_join(o.out, "state.safetensors");
    if (!resume) {
        if (file_exists(state) && !overwrite)
            fail("%s already holds a run: pass --resume to continue it, --overwrite to start over, or another --out", o.out.c_str());
        return;
    }
    const Json saved = read_train_options(state).to_json();
    const Json mine = o.to_json();
    for (const RecipeField& f : recipe_fields()) {
        if (!*f.flag || !a.given(f.flag)) continue;
        const Json* was = saved_field(saved, f.key);
        const Json* now = saved_field(mine, f.key);
        if (!was || !now || was->dump() != now->dump())
            fail("--resume continues the saved run with its own settings: --%s %s differs from the saved %s (start a new run with another --out)",
                 f.flag, now ? now->dump().c_str() : "?", was ? was->dump().c_str() : "?");
    }
}

static void print_result(const TrainOptions& o, const TrainResult& r) {
    if (r.already_complete) {
        std::printf("the run in %s is already complete (%lld steps)\n", o.out.c_str(), (long long)r.steps);
    } else if (r.stopped_early) {
        return;  // the loop said how to continue
    } else if (o.task == "pretrain") {
        std::printf("held-out reconstruction loss %.4f (best %.4f); checkpoints in %s; fine-tune with: convnextv2 train --init %s ...\n",
                    r.test_loss, r.best_loss, o.out.c_str(), path_join(o.out, "best.safetensors").c_str());
    } else {
        std::printf("test accuracy %.2f%% (top-5 %.2f%%, loss %.4f); best %.2f%%; checkpoints in %s\n", 100 * r.test_acc,
                    100 * r.test_top5, r.test_loss, 100 * r.best_acc, o.out.c_str());
    }
}

// `train` and `pretrain` share the loop and most flags; the recipe defaults differ.
static int train_command(const std::string& task, const Argv& argv) {
    Args a(task, argv);
    TrainOptions o;
    o.task = task;
    if (task == "pretrain") {  // the paper's recipe: AdamW 0.9/0.95, wd 0.05, lr 1.5e-4 x batch/256, warmup, cosine to 0
        o.epochs = 100;
        o.beta2 = 0.95;
        o.min_lr = 0;
        o.drop_path = 0;
        o.smoothing = 0;
        o.crop_min_scale = 0.2;
        o.out = "runs/pretrain";
    }
    recipe_flags(a, o);
    o.out = a.str("out", o.out, "output folder (checkpoints, metrics.jsonl)");
    const bool resume = a.flag("resume", "continue the run saved in --out (bit-identical)");
    const bool overwrite = a.flag("overwrite", "start a new run in --out even if it holds one");
    o.threads = a.integer("threads", 0, "threads (0: all cores)", 0, 1024);
    o.stop_after_steps = a.integer("stop-after-steps", 0, "save the state and stop after N steps (0: never)", 0, INT64_MAX);
    o.save_every = a.integer("save-every", 0, "also save the resume state every N steps", 0, INT64_MAX);
    o.verbose = a.flag("verbose", "more logs: kernels, CPU features, oneDNN implementation");
    if (a.help()) {
        std::printf("%s", a.usage(task == "pretrain"
                                      ? "--model M --dataset D [--mask-ratio R] [--epochs N] [--out DIR] [--resume] ..."
                                      : "--model M --dataset D [--epochs N] [--batch-size B] [--lr LR] [--out DIR] [--resume] [--init CKPT] ...")
                              .c_str());
        return 0;
    }
    a.finish();
    check_run_folder(a, o, resume, overwrite);
    const TrainResult r = run_train(o, resume);
    print_result(o, r);
    return r.interrupted ? 130 : 0;
}

int cmd_train(const Argv& argv) { return train_command("train", argv); }
int cmd_pretrain(const Argv& argv) { return train_command("pretrain", argv); }

}  // namespace cnx
