// Checkpoints: safetensors with the official ConvNeXt V2 state_dict names and shapes, so
// PyTorch loads the weights with load_state_dict. Metadata "convnextv2.config" holds the model
// config as JSON (model, classes, channels, stem stride, input size, mean/std, class names); a file
// without it (an official state_dict converted to safetensors) still loads: the config is inferred
// from the tensor shapes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/params.h"
#include "core/safetensors.h"

namespace cnx {

constexpr const char* kConfigKey = "convnextv2.config";

// Adds every tensor of `layout` from `params` (our layout) under prefix + official name.
void add_params(SafetensorsWriter& w, const ParamLayout& layout, const float* params, const std::string& prefix = "");

// Writes a weights file (atomic): official names, config metadata, plus `extra` metadata.
void save_weights(const std::string& path, const ModelConfig& cfg, const ParamLayout& layout, const float* params,
                  const std::vector<std::pair<std::string, std::string>>& extra = {});

// The model config of a checkpoint: from its metadata when present, else inferred from the shapes of
// the tensors under `prefix` (input size 224, ImageNet normalisation for 3 channels, 0.5/0.5 for 1).
// A backbone-only file (no head) gets `fallback_classes`.
ModelConfig read_config(const SafetensorsReader& f, const std::string& prefix = "", int fallback_classes = 1000);

enum class LoadMode {
    Strict,      // every tensor of the layout must be present
    Backbone,    // the head may be missing or of another size (kept as is); the final norm may be missing
};

struct LoadReport {
    int loaded = 0;
    std::vector<std::string> skipped;  // layout tensors not loaded (Backbone mode)
};

// Loads tensors under prefix + official name into params (our layout). Shapes must match (size-1
// axes aside, so GRN (1,1,1,D), (1,D) and (D) all load) and values be finite. Throws cnx::Error
// naming the file and tensor; every shape is checked before anything is written to params.
LoadReport load_params(const SafetensorsReader& f, const ParamLayout& layout, float* params,
                       const std::string& prefix = "", LoadMode mode = LoadMode::Strict);
// The shape checks of load_params alone, so a file that does not fit is refused before a model is
// built for its config.
LoadReport check_params(const SafetensorsReader& f, const ParamLayout& layout, const std::string& prefix = "",
                        LoadMode mode = LoadMode::Strict);

}  // namespace cnx
