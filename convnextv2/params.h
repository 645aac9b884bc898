// Parameters of a ConvNeXt V2 classifier in one flat fp32 buffer (llm.c style). Gradients and the
// AdamW moments use the same layout, so the optimizer is one loop over ranges of it.
//
// Every tensor has its official PyTorch state_dict name and shape; the in-memory layout is
// chosen for speed where it differs and is converted at load/save:
//   conv weights (stem, downsample) (Cout, Cin, k, k) -> [Cout][k][k][Cin]  (patch-row order)
//   depthwise weights (C, 1, 7, 7)                    -> [7][7][C]          (tap-major, C fastest)
//   GRN gamma/beta (1, 1, 1, D)                       -> [D]
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "convnextv2/config.h"
#include "nn/optim.h"

namespace cnx {

enum class TensorLayout {
    Plain,      // same element order as PyTorch
    ConvOIHW,   // PyTorch (O, I, k, k) <-> ours [O][k][k][I]
    Depthwise,  // PyTorch (C, 1, 7, 7) <-> ours [7][7][C]
};

struct ParamTensor {
    std::string name;            // official state_dict key
    std::vector<int64_t> shape;  // official shape
    int64_t offset = 0, numel = 0;
    TensorLayout layout = TensorLayout::Plain;
    bool no_decay = false;  // 1-D tensors, biases, GRN gamma/beta (fine-tuning rule)
    int layer_id = 0;       // layer-wise lr decay id, 'single' mode
};

struct BlockParams {  // offsets into the flat buffer
    int64_t dw_w, dw_b, ln_w, ln_b, pw1_w, pw1_b, grn_gamma, grn_beta, pw2_w, pw2_b;
};

struct ParamLayout {
    std::vector<ParamTensor> tensors;
    int64_t total = 0;
    int num_layers = 0;  // sum(depths): layer ids run 1 .. num_layers + 1
    int64_t stem_w = 0, stem_b = 0, stem_ln_w = 0, stem_ln_b = 0;
    int64_t ds_ln_w[kStages] = {}, ds_ln_b[kStages] = {}, ds_w[kStages] = {}, ds_b[kStages] = {};  // 1..3
    std::vector<BlockParams> blocks[kStages];
    int64_t norm_w = 0, norm_b = 0, head_w = 0, head_b = 0;
    bool has_head = true;

    const ParamTensor* find(const std::string& name) const;
    // [begin, end) of the tensors whose names start with one of `prefixes`, which must be contiguous.
    std::pair<int64_t, int64_t> span(std::initializer_list<const char*> prefixes) const;
    std::pair<int64_t, int64_t> span(const std::string& prefix) const { return span({prefix.c_str()}); }
    // [begin, end) of every tensor, in order.
    std::vector<std::pair<int64_t, int64_t>> tensor_spans() const;
};

// with_head = false builds the encoder of FCMAE (no final norm, no head).
ParamLayout make_param_layout(const ModelConfig& cfg, bool with_head = true);

// Appends a tensor to a layout; returns its offset.
int64_t add_param(ParamLayout& L, const std::string& name, std::vector<int64_t> shape, TensorLayout layout,
                  bool no_decay, int layer_id);
// Appends the tensors of one block of width C under `prefix` (e.g. "decoder.0.").
BlockParams add_block_params(ParamLayout& L, const std::string& prefix, int64_t C, int layer_id);

// Initialises as the official code: conv/linear weights trunc-normal(0, std) cut at +-2, biases 0, LayerNorm
// 1/0, GRN 0; the head weight and bias then scaled by head_init_scale.
void init_params(float* params, const ParamLayout& layout, uint64_t seed, float weight_std = 0.02f,
                 float head_init_scale = 1.0f);
// Re-initialises only the head (fine-tuning from a checkpoint: trunc-normal std, bias 0).
void reinit_head(float* params, const ParamLayout& layout, uint64_t seed, float head_std);

// Layer-wise lr decay as the official optim_factory: 'single' gives every block its own layer
// (num_layers = blocks); 'group' (the paper's base/large/huge) uses 12 layers, stage 2 in groups of 3.
enum class LayerDecayMode { Single, Group };
LayerDecayMode parse_layer_decay_mode(const std::string& name);  // "single", "group"; throws otherwise

// Optimizer groups: weight decay except no_decay tensors; lr scale layer_decay^(num_layers+1-id)
// (layer_decay 1: no decay).
std::vector<ParamGroup> param_groups(const ParamLayout& layout, float weight_decay, float layer_decay,
                                     LayerDecayMode mode = LayerDecayMode::Single);

// Converts one tensor between our layout and PyTorch's element order.
void tensor_to_official(const ParamTensor& t, const float* ours, float* official);
void tensor_from_official(const ParamTensor& t, const float* official, float* ours);

}  // namespace cnx
