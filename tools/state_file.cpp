// What a run's state file holds besides its tensors: the recipe (TrainOptions) and where the run
// stands (RunState), both read back with the checks their values got when they were set.
//
// The recipe fields are listed once, with their keys, flags and ranges: to_json, from_json,
// validate() and the CLI's flag ranges all read that list.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/check.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "tools/augment.h"
#include "tools/mixup.h"
#include "tools/randaugment.h"
#include "tools/resample.h"
#include "tools/train.h"

namespace cnx {

namespace {

constexpr double kMaxCount = 0x1p53;  // integers stay exact in JSON's doubles

// Calls v(key, flag, field[, lo, hi]) for every recipe field of o (TrainOptions or const TrainOptions).
template <class Options, class Visit>
void visit_recipe(Options& o, Visit&& v) {
    v("task", "", o.task);
    v("model", "model", o.model);
    v("data.kind", "dataset", o.data.kind);
    v("data.path", "", o.data.path);
    v("data.train_images", "train-images", o.data.train_images);
    v("data.train_labels", "train-labels", o.data.train_labels);
    v("data.test_images", "test-images", o.data.test_images);
    v("data.test_labels", "test-labels", o.data.test_labels);
    v("data.folder_channels", "folder-channels", o.data.folder_channels, 1, 3);
    v("data.val_split", "val-split", o.data.val_split, 0.01, 0.9);
    v("data.synthetic_train", "synthetic-train", o.data.synthetic_train, 1, 1e7);
    v("data.synthetic_test", "synthetic-test", o.data.synthetic_test, 1, 1e7);
    v("data.synthetic_size", "synthetic-size", o.data.synthetic_size, 1, 4096);
    v("data.synthetic_channels", "synthetic-channels", o.data.synthetic_channels, 1, 3);
    v("data.synthetic_classes", "synthetic-classes", o.data.synthetic_classes, 2, 100000);
    v("data.seed", "", o.data.seed, 0, kMaxCount);
    v("epochs", "epochs", o.epochs, 1, 100000);
    v("batch", "batch-size", o.batch, 1, 65536);
    v("lr", "lr", o.lr, 0, 10);
    v("min_lr", "min-lr", o.min_lr, 0, 10);
    v("warmup_epochs", "warmup-epochs", o.warmup_epochs, 0, 100000);
    v("weight_decay", "weight-decay", o.weight_decay, 0, 10);
    v("layer_decay", "layer-decay", o.layer_decay, 0.01, 1);
    v("layer_decay_type", "layer-decay-type", o.layer_decay_type);
    v("drop_path", "drop-path", o.drop_path, 0, 0.99);
    v("smoothing", "smoothing", o.smoothing, 0, 0.99);
    v("ema", "ema", o.ema, 0, 0.999999999);
    v("head_init_scale", "head-init-scale", o.head_init_scale, 0, 10);
    v("beta1", "", o.beta1, 0, 0.999999);
    v("beta2", "beta2", o.beta2, 0, 0.999999);
    v("input_size", "input-size", o.input_size, 1, kMaxInputSize);
    v("stem_stride", "stem-stride", o.stem_stride, 1, 4);
    v("pad", "pad", o.pad, 0, 1024);
    v("hflip", "no-flip", o.hflip);
    v("crop_min_scale", "min-scale", o.crop_min_scale, 0.01, 1);
    v("reprob", "reprob", o.reprob, 0, 1);
    v("remode", "remode", o.remode);
    v("aa", "aa", o.aa);
    v("train_interpolation", "train-interpolation", o.train_interpolation);
    v("crop_pct", "crop-pct", o.crop_pct, 0.05, 1);
    v("mixup", "mixup", o.mixup, 0, 100);
    v("cutmix", "cutmix", o.cutmix, 0, 100);
    v("mixup_prob", "mixup-prob", o.mixup_prob, 0, 1);
    v("mixup_switch_prob", "mixup-switch-prob", o.mixup_switch_prob, 0, 1);
    v("mixup_mode", "mixup-mode", o.mixup_mode);
    v("mask_ratio", "mask-ratio", o.mask_ratio, 0, 1);
    v("init", "init", o.init);
    v("seed", "seed", o.seed, 0, kMaxCount);
    v("eval_batch", "eval-batch-size", o.eval_batch, 1, 65536);
    v("max_train_samples", "max-train-samples", o.max_train_samples, 0, kMaxCount);
    v("precision", "precision", o.precision);
}

// "data.kind" -> ("data", "kind"); "epochs" -> ("", "epochs").
void split_key(const char* key, std::string& group, std::string& name) {
    const std::string k = key;
    const size_t dot = k.find('.');
    group = dot == std::string::npos ? "" : k.substr(0, dot);
    name = dot == std::string::npos ? k : k.substr(dot + 1);
}

template <class T>
bool in_range(T v, double lo, double hi) {
    return (double)v >= lo && (double)v <= hi;
}

struct ToJson {
    Json& out;
    void put(const char* key, Json v) {
        std::string group, name;
        split_key(key, group, name);
        if (group.empty()) {
            out.set(name, std::move(v));
            return;
        }
        if (!out.find(group)) out.set(group, Json::object());
        Json sub = *out.find(group);
        sub.set(name, std::move(v));
        out.set(group, std::move(sub));
    }
    void operator()(const char* key, const char*, const std::string& v) { put(key, v); }
    void operator()(const char* key, const char*, bool v) { put(key, v); }
    template <class T>
    void operator()(const char* key, const char*, const T& v, double, double) { put(key, (double)v); }
};

struct FromJson {
    const Json& in;
    const std::string& where;
    const Json* field(const char* key) const {
        std::string group, name;
        split_key(key, group, name);
        const Json* g = group.empty() ? &in : in.find(group);
        return g && g->is_object() ? g->find(name) : nullptr;
    }
    [[noreturn]] void bad(const char* key, const char* expected) const {
        fail("%s: saved '%s' is %s, expected %s", where.c_str(), key, field(key)->dump().c_str(), expected);
    }
    void operator()(const char* key, const char*, std::string& v) const {
        if (const Json* f = field(key)) {
            if (!f->is_string()) bad(key, "a string");
            v = f->as_string();
        }
    }
    void operator()(const char* key, const char*, bool& v) const {
        if (const Json* f = field(key)) {
            if (!f->is_bool()) bad(key, "true or false");
            v = f->as_bool();
        }
    }
    template <class T>
    void operator()(const char* key, const char*, T& v, double lo, double hi) const {
        const Json* f = field(key);
        if (!f) return;
        const bool integral = std::is_integral<T>::value;
        const std::string expected = strfmt("%s in [%g, %g]", integral ? "an integer" : "a number", lo, hi);
        if (!f->is_number() || !in_range(f->as_number(), lo, hi)) bad(key, expected.c_str());
        if (integral) {
            int64_t i = 0;
            if (!f->as_integer((int64_t)lo, (int64_t)hi, &i)) bad(key, expected.c_str());
            v = (T)i;
        } else {
            v = (T)f->as_number();
        }
    }
};

// Names a field by its flag where it has one, as the flag parser does.
struct Validate {
    void operator()(const char*, const char*, const std::string&) const {}
    void operator()(const char*, const char*, bool) const {}
    template <class T>
    void operator()(const char* key, const char* flag, const T& v, double lo, double hi) const {
        if (!in_range(v, lo, hi))
            fail("%s%s %g is out of range [%g, %g]", *flag ? "--" : "", *flag ? flag : key, (double)v, lo, hi);
    }
};

struct CollectFields {
    std::vector<RecipeField>& out;
    void operator()(const char* key, const char* flag, const std::string&) { out.push_back({key, flag, 0, 0}); }
    void operator()(const char* key, const char* flag, bool) { out.push_back({key, flag, 0, 0}); }
    template <class T>
    void operator()(const char* key, const char* flag, const T&, double lo, double hi) {
        out.push_back({key, flag, lo, hi});
    }
};

}  // namespace

Json TrainOptions::to_json() const {
    Json j = Json::object();
    visit_recipe(*this, ToJson{j});
    return j;
}

TrainOptions TrainOptions::from_json(const Json& j, const std::string& where) {
    if (!j.is_object()) fail("%s: training options are not a JSON object", where.c_str());
    TrainOptions o;
    visit_recipe(o, FromJson{j, where});
    try {
        o.validate();
    } catch (const Error& e) {
        fail("%s: saved options: %s", where.c_str(), e.what());
    }
    return o;
}

void TrainOptions::validate() const {
    visit_recipe(*this, Validate{});
    if (task != "train" && task != "pretrain") fail("unknown task '%s'", task.c_str());
    parse_precision(precision);
    parse_erase_mode(remode);
    parse_layer_decay_mode(layer_decay_type);
    parse_interpolation(train_interpolation);
    if (!aa.empty()) {
        const uint8_t fill[3] = {0, 0, 0};
        parse_rand_augment(aa, fill, Interpolation::Bicubic);
    }
    parse_mixup_mode(mixup_mode);
    if (task == "pretrain" && !(mask_ratio > 0))
        fail("--mask-ratio %g: pre-training needs a ratio in (0, 1] (the loss is over masked patches)", mask_ratio);
}

std::vector<RecipeField> recipe_fields() {
    std::vector<RecipeField> out;
    const TrainOptions o;
    visit_recipe(o, CollectFields{out});
    return out;
}

RecipeField recipe_field(const std::string& key) {
    for (const RecipeField& f : recipe_fields())
        if (key == f.key) return f;
    check_failed(__FILE__, __LINE__, key.c_str(), "no such recipe field");
}

Json RunState::to_json() const {
    Json s = Json::object();
    s.set("step", step).set("threads", threads).set("best_score", best_score).set("has_best", has_best);
    s.set("epoch_loss_sum", epoch_loss_sum).set("epoch_correct", epoch_correct).set("epoch_seen", epoch_seen);
    s.set("epoch_train_s", epoch_train_s).set("first_loss_sum", first_loss_sum).set("first_loss_n", first_loss_n);
    s.set("rng", "counter-based streams keyed by (seed, purpose, epoch/step, sample); nothing else to save");
    return s;
}

RunState RunState::from_json(const Json& j, int64_t steps_per_epoch, int64_t epochs, int64_t batch,
                             const std::string& where) {
    if (!j.is_object()) fail("%s: the run state is not a JSON object", where.c_str());
    auto bad = [&](const char* key, const std::string& why) {
        const Json* f = j.find(key);
        fail("%s: saved '%s' = %s %s", where.c_str(), key, f ? f->dump().c_str() : "(missing)", why.c_str());
    };
    auto integer = [&](const char* key, int64_t lo, int64_t hi, bool required) {
        const Json* f = j.find(key);
        int64_t v = 0;
        if (!f && !required) return v;
        if (!f || !f->as_integer(lo, hi, &v)) bad(key, strfmt("is not an integer in [%lld, %lld]", (long long)lo, (long long)hi));
        return v;
    };
    auto number = [&](const char* key, double lo, double hi) {
        const Json* f = j.find(key);
        if (!f) return 0.0;
        if (!f->is_number() || !(f->as_number() >= lo && f->as_number() <= hi)) bad(key, strfmt("is not a number in [%g, %g]", lo, hi));
        return f->as_number();
    };
    RunState r;
    const int64_t total = steps_per_epoch * epochs;
    r.step = integer("step", 0, total, true);
    r.threads = integer("threads", 0, 1 << 20, false);
    // A finished epoch's images stay counted until its end has run (a stop right after its last step).
    const int64_t in_epoch = r.step % steps_per_epoch;
    const bool at_boundary = in_epoch == 0 && r.step > 0;
    r.epoch_seen = integer("epoch_seen", 0, steps_per_epoch * batch, true);
    if (r.epoch_seen != in_epoch * batch && !(at_boundary && r.epoch_seen == steps_per_epoch * batch))
        bad("epoch_seen", strfmt("does not match step %lld (%lld steps of %lld per epoch)", (long long)r.step,
                                 (long long)steps_per_epoch, (long long)batch));
    r.epoch_correct = integer("epoch_correct", 0, r.epoch_seen, true);
    r.epoch_loss_sum = number("epoch_loss_sum", 0, HUGE_VAL);
    r.epoch_train_s = number("epoch_train_s", 0, HUGE_VAL);
    r.best_score = number("best_score", -HUGE_VAL, HUGE_VAL);
    if (const Json* f = j.find("has_best")) {
        if (!f->is_bool()) bad("has_best", "is not true or false");
        r.has_best = f->as_bool();
    }
    r.first_loss_n = integer("first_loss_n", 0, std::min<int64_t>(10, r.step), true);
    r.first_loss_sum = number("first_loss_sum", 0, HUGE_VAL);
    return r;
}

TrainOptions read_train_options(const std::string& state_path) {
    if (!file_exists(state_path)) fail("%s: no saved run to resume", state_path.c_str());
    return read_train_options(SafetensorsReader(state_path));
}

TrainOptions read_train_options(const SafetensorsReader& state) {
    if (!state.has_meta(kOptionsKey))
        fail("%s: not a training state file (no %s metadata)", state.path().c_str(), kOptionsKey);
    return TrainOptions::from_json(Json::parse(state.meta(kOptionsKey), state.path() + ": " + kOptionsKey), state.path());
}

}  // namespace cnx
