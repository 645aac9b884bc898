// The ConvNeXt V2 classifier: straight-line forward and a mirrored backward over NHWC activations
// planned once, for a fixed (config, batch, training) before the first step.
//
// Forward (SPEC 2.1): stem (k x k / k patch conv, LayerNorm) -> 4 stages of blocks, stages 1..3
// entered through LayerNorm + 2x2/2 patch conv -> global average pool -> LayerNorm -> head.
// Block: dwconv 7x7 -> LayerNorm -> Linear C->4C -> GELU -> GRN -> Linear 4C->C -> DropPath -> +x.
//
// Glossary: N batch, T tokens of a stage (N*H*W), C channels, K classes, P the flat parameters.
#pragma once

#include <cstdint>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/params.h"
#include "core/arena.h"
#include "nn/dwconv.h"
#include "nn/grn.h"
#include "nn/layernorm.h"
#include "nn/linear.h"

namespace cnx {

struct BlockActs {
    float* x_in = nullptr;   // [T, C] block input (the previous block's x_out or the stage input)
    float* dw = nullptr;     // [T, C] depthwise conv output
    float* ln = nullptr;     // [T, C] LayerNorm output
    float* mean = nullptr;   // [T]
    float* rstd = nullptr;   // [T]
    float* h = nullptr;      // [T, 4C] pwconv1 output (GELU input)
    float* g = nullptr;      // [T, 4C] GELU output (GRN input)
    float* r = nullptr;      // [T, 4C] GRN output (pwconv2 input)
    float* gx = nullptr;     // [N, 4C] GRN L2 norms
    float* nx = nullptr;     // [N, 4C] GRN normalised norms
    float* y = nullptr;      // [T, C] branch output (pwconv2)
    float* x_out = nullptr;  // [T, C]
    float* drop_scale = nullptr;  // [N] DropPath scales of this step
    float drop_rate = 0.0f;       // this step's rate (0: branch always kept)
};

struct StageActs {
    int64_t H = 0, W = 0, C = 0, T = 0;
    float* ds_patches = nullptr;  // [T, 4*C_prev] downsample input: LN of the previous stage, patch layout
    float* ds_mean = nullptr;     // [T_prev]
    float* ds_rstd = nullptr;     // [T_prev]
    float* x0 = nullptr;          // [T, C] stage input
    std::vector<BlockActs> blocks;
    float* out() const { return blocks.back().x_out; }
};

// Layers of one stage; blocks of a stage have equal shapes and share them (scratch only).
struct StageLayers {
    DwConv dw;
    LayerNorm ln;
    Linear pw1, pw2;
    Grn grn;
};

class ConvNeXtV2 {
public:
    ConvNeXtV2(const ModelConfig& cfg, int64_t batch, bool training);
    // Bytes of the activation arena such a model plans (without building it).
    static size_t planned_bytes(const ModelConfig& cfg, int64_t batch, bool training);

    const ModelConfig& config() const { return cfg_; }
    const ParamLayout& layout() const { return layout_; }
    int64_t batch() const { return N_; }
    bool training() const { return training_; }
    size_t activation_bytes() const { return arena_.capacity(); }

    // images [N, S, S, in_chans] (normalised, NHWC). Returns logits [N, K].
    // drop_path: max stochastic-depth rate (linear over blocks); drop_key: this step's random stream.
    const float* forward(const float* params, const float* images, float drop_path = 0.0f, uint64_t drop_key = 0);
    // Accumulates parameter gradients of sum(dlogits * logits) into grads (training models only).
    void backward(const float* params, float* grads, const float* dlogits);

    const float* logits() const { return logits_; }
    float* dlogits() { return dlogits_; }  // [N, K] scratch for the caller's loss gradient
    const StageActs& stage(int s) const { return stages_[s]; }
    // oneDNN implementation of a stage's pwconv1 forward (for logs).
    const char* gemm_impl() const { return layers_[0].pw1.forward_impl(); }

private:
    ModelConfig cfg_;
    ParamLayout layout_;
    int64_t N_ = 0;
    bool training_ = false;
    Arena arena_;

    // stem
    float* stem_patches_ = nullptr;  // [T0, k*k*Cin]
    float* stem_out_ = nullptr;      // [T0, C0] before LayerNorm
    float* stem_mean_ = nullptr;
    float* stem_rstd_ = nullptr;
    Linear stem_linear_;
    LayerNorm stem_ln_;
    // stages and downsamples (index 1..3)
    StageActs stages_[kStages];
    StageLayers layers_[kStages];
    LayerNorm ds_ln_[kStages];
    Linear ds_linear_[kStages];
    std::vector<int64_t> ds_off_[kStages];  // token -> element offset in the patch matrix
    // head
    float* pooled_ = nullptr;  // [N, C3]
    float* normed_ = nullptr;  // [N, C3]
    float* head_mean_ = nullptr;
    float* head_rstd_ = nullptr;
    float* logits_ = nullptr;  // [N, K]
    LayerNorm head_ln_;
    Linear head_linear_;
    // backward scratch
    float* dlogits_ = nullptr;  // [N, K]
    float* d_normed_ = nullptr;  // [N, C3]
    float* d_pooled_ = nullptr;  // [N, C3]
    float* d_x_[2] = {};         // [max T*C] ping-pong residual-stream gradients
    float* d_c_ = nullptr;       // [max T*C]
    float* d_4c_ = nullptr;      // [max T*4C]

    struct PlanOnly {};
    ConvNeXtV2(const ModelConfig& cfg, int64_t batch, bool training, PlanOnly);
    void plan(Arena& a);
    void block_forward(const float* P, int s, int j);
    void block_backward(const float* P, float* G, int s, int j, float* dx);
};

}  // namespace cnx
