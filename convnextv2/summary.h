// Model summary for `convnextv2 info`: per stage resolution, channels, parameters, multiply-adds
// (conv and linear layers, as the paper counts FLOPs) and training activation memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convnextv2/config.h"

namespace cnx {

struct StageSummary {
    std::string name;   // "stem", "stage1".."stage4", "head"
    int resolution = 0; // side of the token grid (0 for the head)
    int channels = 0;
    int blocks = 0;
    int64_t params = 0;
    int64_t macs = 0;             // per image
    int64_t activation_bytes = 0; // fp32 activations kept for backward, per image
};

struct ModelSummary {
    std::vector<StageSummary> rows;
    int64_t params = 0;
    int64_t macs = 0;
    int64_t train_arena_bytes = 0;  // the planned training arena at batch 1 (includes scratch)
};

ModelSummary summarize(const ModelConfig& cfg);

}  // namespace cnx
