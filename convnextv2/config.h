// ConvNeXt V2 configurations (atto ... huge) and the per-model settings a checkpoint records.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"

namespace cnx {

constexpr int kStages = 4;
constexpr int kMaxDepth = 64;          // blocks per stage
constexpr int kMaxWidth = 8192;        // channels per stage
constexpr int kMaxClasses = 1000000;   // the --classes flag's range too
constexpr int kMaxInputSize = 8192;    // the --input-size flag's range too

struct ModelConfig {
    std::string name = "atto";  // atto, femto, pico, nano, tiny, base, large, huge, or "custom"
    int depths[kStages] = {2, 2, 6, 2};
    int dims[kStages] = {40, 80, 160, 320};
    int num_classes = 1000;
    int in_chans = 3;
    int stem_stride = 4;   // the stem kernel equals its stride: 4 (paper), 2 or 1 for small images
    int input_size = 224;  // square input side; a multiple of total_stride()
    std::vector<float> mean = {0.485f, 0.456f, 0.406f};  // input normalisation, one per channel
    std::vector<float> std = {0.229f, 0.224f, 0.225f};
    std::vector<std::string> class_names;  // optional, num_classes entries

    int total_stride() const { return stem_stride * 8; }
    int num_blocks() const { return depths[0] + depths[1] + depths[2] + depths[3]; }
    // Side of stage s's token grid.
    int stage_size(int s) const { return input_size / stem_stride >> s; }

    // Throws cnx::Error with one line when a field is out of range.
    void validate() const;
    Json to_json() const;
    static ModelConfig from_json(const Json& j);  // throws on missing or bad fields
};

// The named architecture with default settings (1000 classes, 3 channels, stride 4, 224, ImageNet
// normalisation); throws cnx::Error for an unknown name.
ModelConfig model_config(const std::string& name);
const std::vector<std::string>& model_names();
// Name of the named model whose depths and dims these are, or "custom".
std::string model_name_for(const int depths[kStages], const int dims[kStages]);

// Drop-path rate of block k of `total` for a linear schedule 0 .. max_rate over all blocks.
float drop_path_rate_for(int k, int total, float max_rate);

}  // namespace cnx
