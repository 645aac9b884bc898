#include "convnextv2/config.h"

#include <climits>
#include <cmath>

#include "core/check.h"

namespace cnx {

struct Arch {
    const char* name;
    int depths[kStages];
    int dims[kStages];
};

static const Arch kArchs[] = {
    {"atto", {2, 2, 6, 2}, {40, 80, 160, 320}},       {"femto", {2, 2, 6, 2}, {48, 96, 192, 384}},
    {"pico", {2, 2, 6, 2}, {64, 128, 256, 512}},      {"nano", {2, 2, 8, 2}, {80, 160, 320, 640}},
    {"tiny", {3, 3, 9, 3}, {96, 192, 384, 768}},      {"base", {3, 3, 27, 3}, {128, 256, 512, 1024}},
    {"large", {3, 3, 27, 3}, {192, 384, 768, 1536}}, {"huge", {3, 3, 27, 3}, {352, 704, 1408, 2816}},
};

const std::vector<std::string>& model_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const Arch& a : kArchs) v.push_back(a.name);
        return v;
    }();
    return names;
}

ModelConfig model_config(const std::string& name) {
    for (const Arch& a : kArchs) {
        if (name == a.name) {
            ModelConfig c;
            c.name = a.name;
            for (int s = 0; s < kStages; s++) {
                c.depths[s] = a.depths[s];
                c.dims[s] = a.dims[s];
            }
            return c;
        }
    }
    std::string all;
    for (const Arch& a : kArchs) all += std::string(all.empty() ? "" : ", ") + a.name;
    fail("unknown model '%s' (expected one of: %s)", name.c_str(), all.c_str());
}

std::string model_name_for(const int depths[kStages], const int dims[kStages]) {
    for (const Arch& a : kArchs) {
        bool same = true;
        for (int s = 0; s < kStages; s++) same = same && a.depths[s] == depths[s] && a.dims[s] == dims[s];
        if (same) return a.name;
    }
    return "custom";
}

void ModelConfig::validate() const {
    for (int s = 0; s < kStages; s++) {
        if (depths[s] < 1 || depths[s] > kMaxDepth)
            fail("model %s: stage %d depth %d out of range 1..%d", name.c_str(), s, depths[s], kMaxDepth);
        if (dims[s] < 1 || dims[s] > kMaxWidth)
            fail("model %s: stage %d width %d out of range 1..%d", name.c_str(), s, dims[s], kMaxWidth);
    }
    if (num_classes < 1 || num_classes > kMaxClasses)
        fail("number of classes %d out of range 1..%d", num_classes, kMaxClasses);
    if (in_chans != 1 && in_chans != 3) fail("input channels must be 1 or 3 (got %d)", in_chans);
    if (stem_stride != 1 && stem_stride != 2 && stem_stride != 4)
        fail("stem stride must be 4, 2 or 1 (got %d)", stem_stride);
    if (input_size > kMaxInputSize) fail("input size %d is over the maximum of %d", input_size, kMaxInputSize);
    if (input_size < total_stride() || input_size % total_stride() != 0)
        fail("input size %d is not a positive multiple of the total stride %d (stem stride %d x 8)", input_size,
             total_stride(), stem_stride);
    if ((int)mean.size() != in_chans || (int)std.size() != in_chans)
        fail("normalisation mean/std need %d values", in_chans);
    for (float m : mean)
        if (!std::isfinite(m)) fail("normalisation mean must be finite");
    for (float s : std)
        if (!(s > 0.0f) || !std::isfinite(s)) fail("normalisation std must be positive and finite");
    if (!class_names.empty() && (int)class_names.size() != num_classes)
        fail("%zu class names for %d classes", class_names.size(), num_classes);
}

Json ModelConfig::to_json() const {
    Json j = Json::object();
    j.set("model", name);
    Json d = Json::array(), w = Json::array();
    for (int s = 0; s < kStages; s++) {
        d.push(depths[s]);
        w.push(dims[s]);
    }
    j.set("depths", d);
    j.set("dims", w);
    j.set("num_classes", num_classes);
    j.set("in_chans", in_chans);
    j.set("stem_stride", stem_stride);
    j.set("input_size", input_size);
    Json m = Json::array(), sd = Json::array();
    for (float v : mean) m.push(v);
    for (float v : std) sd.push(v);
    j.set("mean", m);
    j.set("std", sd);
    Json names = Json::array();
    for (const std::string& n : class_names) names.push(n);
    j.set("class_names", names);
    return j;
}

// Out-of-range values become INT_MIN/INT_MAX here and are refused by validate() with its message.
static int json_int_value(const Json& v, const char* key) {
    int64_t x = 0;
    if (!v.is_number() || v.as_number() != std::floor(v.as_number())) fail("model config: '%s' is not an integer", key);
    if (!v.as_integer(INT_MIN, INT_MAX, &x)) x = v.as_number() < 0 ? INT_MIN : INT_MAX;
    return (int)x;
}

static int json_int_field(const Json& j, const char* key) {
    const Json* v = j.find(key);
    if (!v) fail("model config: missing '%s'", key);
    return json_int_value(*v, key);
}

static const Json& json_array(const Json& j, const char* key, size_t max_size) {
    const Json* v = j.find(key);
    if (!v || !v->is_array()) fail("model config: missing or bad '%s'", key);
    if (v->size() > max_size) fail("model config: '%s' has %zu values, expected at most %zu", key, v->size(), max_size);
    return *v;
}

static std::vector<float> json_floats(const Json& j, const char* key) {
    std::vector<float> out;
    for (const Json& x : json_array(j, key, 3).items()) {
        if (!x.is_number()) fail("model config: '%s' holds a non-number", key);
        out.push_back((float)x.as_number());
    }
    return out;
}

ModelConfig ModelConfig::from_json(const Json& j) {
    if (!j.is_object()) fail("model config: not a JSON object");
    ModelConfig c;
    const Json* name = j.find("model");
    c.name = name && name->is_string() ? name->as_string() : "custom";
    const Json& d = json_array(j, "depths", kStages);
    const Json& w = json_array(j, "dims", kStages);
    if (d.size() != kStages || w.size() != kStages) fail("model config: depths and dims need 4 values");
    for (int s = 0; s < kStages; s++) {
        c.depths[s] = json_int_value(d[(size_t)s], "depths");
        c.dims[s] = json_int_value(w[(size_t)s], "dims");
    }
    c.num_classes = json_int_field(j, "num_classes");
    c.in_chans = json_int_field(j, "in_chans");
    c.stem_stride = json_int_field(j, "stem_stride");
    c.input_size = json_int_field(j, "input_size");
    c.mean = json_floats(j, "mean");
    c.std = json_floats(j, "std");
    if (const Json* names = j.find("class_names")) {
        if (!names->is_array() || names->size() > (size_t)kMaxClasses) fail("model config: bad 'class_names'");
        for (const Json& n : names->items()) {
            if (!n.is_string()) fail("model config: bad 'class_names'");
            c.class_names.push_back(n.as_string());
        }
    }
    c.validate();
    return c;
}

float drop_path_rate_for(int k, int total, float max_rate) {
    if (total <= 1) return 0.0f;
    return (float)((double)max_rate * k / (double)(total - 1));
}

}  // namespace cnx
