#include "convnextv2/checkpoint.h"

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

ModelConfig read_config(const SafetensorsReader& f, const std::string& prefix, int fallback_classes) {
    if (f.has_meta(kConfigKey)) {
        try {
            return ModelConfig::from_json(Json::parse(f.meta(kConfigKey), "config"));
        } catch (const Error& e) {
            fail("%s: metadata '%s': %s", f.path().c_str(), kConfigKey, e.what());
        }
    }
    ModelConfig c;
    const SafetensorsEntry& stem = need(f, prefix + "downsample_layers.0.0.weight");
    if (stem.shape.size() != 4 || stem.shape[2] != stem.shape[3])
        fail("%s: '%s' has shape %s, expected (C, in_chans, k, k)", f.path().c_str(), stem.name.c_str(),
             stem.shape_string().c_str());
    c.in_chans = (int)stem.shape[1];
    c.stem_stride = (int)stem.shape[2];
    for (int s = 0; s < kStages; s++) {
        int depth = 0;
        while (f.has(prefix + "stages." + std::to_string(s) + "." + std::to_string(depth) + ".dwconv.weight")) depth++;
        if (depth == 0) fail("%s: no blocks found for stage %d", f.path().c_str(), s);
        c.depths[s] = depth;
        const SafetensorsEntry& dw = need(f, prefix + "stages." + std::to_string(s) + ".0.dwconv.weight");
        c.dims[s] = (int)dw.shape[0];
    }
    c.name = model_name_for(c.depths, c.dims);
    const SafetensorsEntry* head = f.find(prefix + "head.weight");
    c.num_classes = head && head->shape.size() == 2 ? (int)head->shape[0] : fallback_classes;
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

LoadReport load_params(const SafetensorsReader& f, const ParamLayout& layout, float* params, const std::string& prefix,
                       LoadMode mode) {
    LoadReport rep;
    for (const ParamTensor& t : layout.tensors) {
        const std::string key = prefix + t.name;
        const bool optional = mode == LoadMode::Backbone &&
                              (t.name.rfind("head.", 0) == 0 || t.name.rfind("norm.", 0) == 0);
        const SafetensorsEntry* e = f.find(key);
        if (!e) {
            if (optional) {
                rep.skipped.push_back(t.name);
                continue;
            }
            fail("%s: tensor '%s' is missing", f.path().c_str(), key.c_str());
        }
        if (!same_shape(e->shape, t.shape)) {
            if (optional) {
                rep.skipped.push_back(t.name);
                continue;
            }
            fail("%s: tensor '%s' has shape %s, the model needs %s", f.path().c_str(), key.c_str(),
                 e->shape_string().c_str(), shape_str(t.shape).c_str());
        }
        std::vector<float> v = f.read_f32(key);
        tensor_from_official(t, v.data(), params + t.offset);
        rep.loaded++;
    }
    return rep;
}

}  // namespace cnx
