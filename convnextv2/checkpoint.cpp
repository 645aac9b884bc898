#include "convnextv2/checkpoint.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "core/check.h"
#include "core/json.h"

namespace cnx {

void add_params(SafetensorsWriter& w, const ParamLayout& layout, const float* params, const std::string& prefix) {
    for (const ParamTensor& t : layout.tensors) {
        std::vector<float> official((size_t)t.numel);
        tensor_to_official(t, params + t.offset, official.data());
        w.add(prefix + t.name, t.shape, std::move(official));
    }
}

void save_weights(const std::string& path, const ModelConfig& cfg, const ParamLayout& layout, const float* params,
                  const std::vector<std::pair<std::string, std::string>>& extra) {
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    w.set_metadata(kConfigKey, cfg.to_json().dump());
    for (const auto& kv : extra) w.set_metadata(kv.first, kv.second);
    add_params(w, layout, params, "");
    w.write(path);
}

static const SafetensorsEntry& need(const SafetensorsReader& f, const std::string& name) {
    const SafetensorsEntry* e = f.find(name);
    if (!e) fail("%s: tensor '%s' not found (is this a ConvNeXt V2 checkpoint?)", f.path().c_str(), name.c_str());
    return *e;
}

// A tensor that must be present with `rank` axes (the inference below indexes them).
static const SafetensorsEntry& need_rank(const SafetensorsReader& f, const std::string& name, size_t rank,
                                         const char* expected) {
    const SafetensorsEntry& e = need(f, name);
    if (e.shape.size() != rank)
        fail("%s: '%s' has shape %s, expected %s", f.path().c_str(), name.c_str(), e.shape_string().c_str(), expected);
    return e;
}

// A shape dimension as a config field; values too large for an int saturate and validate() refuses them.
static int clamp_int(int64_t v) { return (int)std::min<int64_t>(v, INT_MAX); }

ModelConfig read_config(const SafetensorsReader& f, const std::string& prefix, int fallback_classes) {
    if (f.has_meta(kConfigKey)) {
        try {
            return ModelConfig::from_json(Json::parse(f.meta(kConfigKey), "config"));
        } catch (const Error& e) {
            fail("%s: metadata '%s': %s", f.path().c_str(), kConfigKey, e.what());
        }
    }
    ModelConfig c;
    const SafetensorsEntry& stem = need_rank(f, prefix + "downsample_layers.0.0.weight", 4, "(C, in_chans, k, k)");
    if (stem.shape[2] != stem.shape[3])
        fail("%s: '%s' has shape %s, expected (C, in_chans, k, k)", f.path().c_str(), stem.name.c_str(),
             stem.shape_string().c_str());
    c.in_chans = clamp_int(stem.shape[1]);
    c.stem_stride = clamp_int(stem.shape[2]);
    for (int s = 0; s < kStages; s++) {
        const std::string stage = prefix + "stages." + std::to_string(s) + ".";
        int depth = 0;
        while (depth <= kMaxDepth && f.has(stage + std::to_string(depth) + ".dwconv.weight")) depth++;
        if (depth == 0) fail("%s: no blocks found for stage %d", f.path().c_str(), s);
        c.depths[s] = depth;
        c.dims[s] = clamp_int(need_rank(f, stage + "0.dwconv.weight", 4, "(C, 1, 7, 7)").shape[0]);
    }
    c.name = model_name_for(c.depths, c.dims);
    const SafetensorsEntry* head = f.find(prefix + "head.weight");
    c.num_classes = head && head->shape.size() == 2 ? clamp_int(head->shape[0]) : fallback_classes;
    c.input_size = 224;
    if (c.in_chans == 1) {
        c.mean = {0.5f};
        c.std = {0.5f};
    }
    c.validate();
    return c;
}

// Shapes equal once size-1 axes are dropped.
static bool same_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    std::vector<int64_t> x, y;
    for (int64_t d : a)
        if (d != 1) x.push_back(d);
    for (int64_t d : b)
        if (d != 1) y.push_back(d);
    return x == y;
}

static std::string shape_str(const std::vector<int64_t>& s) {
    SafetensorsEntry e;
    e.shape = s;
    return e.shape_string();
}

// The file tensor for each layout tensor (nullptr where an optional one is skipped), shapes checked.
static std::vector<const SafetensorsEntry*> match_params(const SafetensorsReader& f, const ParamLayout& layout,
                                                         const std::string& prefix, LoadMode mode, LoadReport& rep) {
    std::vector<const SafetensorsEntry*> found;
    for (const ParamTensor& t : layout.tensors) {
        const std::string key = prefix + t.name;
        const bool optional = mode == LoadMode::Backbone &&
                              (t.name.rfind("head.", 0) == 0 || t.name.rfind("norm.", 0) == 0);
        const SafetensorsEntry* e = f.find(key);
        if (!e || !same_shape(e->shape, t.shape)) {
            if (!optional && !e) fail("%s: tensor '%s' is missing", f.path().c_str(), key.c_str());
            if (!optional)
                fail("%s: tensor '%s' has shape %s, the model needs %s", f.path().c_str(), key.c_str(),
                     e->shape_string().c_str(), shape_str(t.shape).c_str());
            rep.skipped.push_back(t.name);
            e = nullptr;
        }
        found.push_back(e);
    }
    return found;
}

LoadReport check_params(const SafetensorsReader& f, const ParamLayout& layout, const std::string& prefix,
                        LoadMode mode) {
    LoadReport rep;
    match_params(f, layout, prefix, mode, rep);
    return rep;
}

LoadReport load_params(const SafetensorsReader& f, const ParamLayout& layout, float* params, const std::string& prefix,
                       LoadMode mode) {
    LoadReport rep;
    const std::vector<const SafetensorsEntry*> found = match_params(f, layout, prefix, mode, rep);
    for (size_t k = 0; k < found.size(); k++) {
        if (!found[k]) continue;
        const ParamTensor& t = layout.tensors[k];
        std::vector<float> v = f.read_f32(found[k]->name);
        const int64_t bad = find_non_finite(v.data(), (int64_t)v.size());
        if (bad >= 0)
            fail("%s: tensor '%s' holds a non-finite value (%g at index %lld); refusing to load it", f.path().c_str(),
                 found[k]->name.c_str(), (double)v[(size_t)bad], (long long)bad);
        tensor_from_official(t, v.data(), params + t.offset);
        rep.loaded++;
    }
    return rep;
}

}  // namespace cnx
