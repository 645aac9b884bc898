// ConvNeXt V2: the classifier, or its encoder alone, dense or masked (FCMAE).
// Activations are NHWC and planned once, for a fixed (config, batch, training, mask ratio), before
// the first step; forward is straight-line and backward mirrors it.
//
// Classifier: stem (k x k / k patch conv + LayerNorm) -> 4 stages of blocks (stages 1..3 entered
// through LayerNorm + 2x2/2 patch conv) -> global average pool -> LayerNorm -> head.
// Encoder: the same without pool, norm and head; forward returns the final stage map.
// Masked encoder: the stem runs dense and its output is zeroed at masked patches; every later layer
// computes the visible tiles only (convnextv2/block.h), downsamples mapping visible tiles to
// visible tiles; the final map is zero at masked patches.
//
// Glossary: N batch, T tokens of a stage (N*H*W), rows the computed tokens, C channels, K classes,
// params the flat parameters, grads their gradients, grid x grid the patch grid (the final stage's side).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "convnextv2/block.h"
#include "convnextv2/config.h"
#include "convnextv2/mask.h"
#include "convnextv2/params.h"
#include "core/arena.h"

namespace cnx {

struct StageActs {
    int64_t H = 0, W = 0, C = 0, T = 0;
    int64_t rows = 0;             // computed tokens (T, or the visible ones when masked)
    float* ds_patches = nullptr;  // [rows, 4*C_prev] downsample input: LayerNorm of the previous stage, patch layout
    bf16* ds_patches16 = nullptr; // the same in bf16 precision (ds_patches stays null)
    float* ds_mean = nullptr;     // [rows_prev]
    float* ds_rstd = nullptr;     // [rows_prev]
    float* ds_out = nullptr;      // [rows, C] masked: the downsample conv's compact output
    float* x0 = nullptr;          // [T, C] dense stage input
    std::vector<BlockActs> blocks;
    float* out() const { return blocks.back().x_out; }
    LinearInput ds_input() const { return ds_patches16 ? LinearInput(ds_patches16) : LinearInput(ds_patches); }
};

struct ModelOptions {
    bool training = true;
    bool with_head = true;    // false: the encoder alone (no pool, final norm, head)
    double mask_ratio = -1;   // >= 0: a masked encoder keeping floor(L * (1 - ratio)) patches per sample
    Precision precision = Precision::kFp32;  // of the GEMMs (nn/precision.h)
};

class ConvNeXtV2 {
public:
    ConvNeXtV2(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt);
    ConvNeXtV2(const ModelConfig& cfg, int64_t batch, bool training) : ConvNeXtV2(cfg, batch, ModelOptions{training}) {}
    // Bytes of the activation arena such a model plans (without building it).
    static size_t planned_bytes(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt);

    const ModelConfig& config() const { return cfg_; }
    const ParamLayout& layout() const { return layout_; }
    int64_t batch() const { return N_; }
    bool training() const { return opt_.training; }
    bool masked() const { return opt_.mask_ratio >= 0; }
    Precision precision() const { return opt_.precision; }
    int64_t grid() const { return stages_[3].H; }       // patches per side
    int64_t keep() const { return keep_; }               // visible patches per sample (masked)
    size_t activation_bytes() const { return arena_.capacity(); }

    // Data-parallel: the global index of this process's first sample, whose random streams (drop
    // path) it draws (0 alone).
    void set_first_sample(int64_t first) { first_sample_ = first; }

    // Called by backward as parameter gradients become final, [begin, end) of the flat buffer at a
    // time (block by block), so that their all-reduce can start (data-parallel training).
    using GradReady = std::function<void(int64_t begin, int64_t end)>;
    void set_grad_ready(GradReady f);

    // Masked models: this step's mask [N, grid^2] (1 = removed), before forward.
    void set_mask(const uint8_t* mask);
    const ActiveSet& active(int s) const { return active_[s]; }

    // images [N, S, S, in_chans] (normalised, NHWC). Returns logits [N, K], or for an encoder the
    // final stage map [N, grid, grid, C3] (zero at masked patches).
    // drop_path: max stochastic-depth rate (linear over blocks); drop_key: this step's random stream.
    const float* forward(Weights params, const float* images, float drop_path = 0.0f, uint64_t drop_key = 0);
    // Accumulates parameter gradients into grads, given d(logits) or d(final map) (training models).
    void backward(Weights params, float* grads, const float* d_out);

    const float* logits() const { return logits_; }
    float* dlogits() { return dlogits_; }  // [N, K] scratch for the caller's loss gradient
    const StageActs& stage(int s) const { return stages_[s]; }
    const char* gemm_impl() const { return layers_[0].pw1.forward_impl(); }

private:
    ModelConfig cfg_;
    int64_t first_sample_ = 0;
    GradReady grad_ready_;
    // Gradient spans reported to grad_ready_: head (norm + head), downsample layers, blocks, stem.
    std::pair<int64_t, int64_t> head_span_, ds_span_[kStages], stem_span_;
    std::vector<std::pair<int64_t, int64_t>> block_span_[kStages];
    void report(std::pair<int64_t, int64_t> span) const {
        if (grad_ready_) grad_ready_(span.first, span.second);
    }
    ModelOptions opt_;
    ParamLayout layout_;
    int64_t N_ = 0;
    int64_t keep_ = 0;
    Arena arena_;
    ActiveSet active_[kStages];
    bool mask_set_ = false;

    // stem
    float* stem_patches_ = nullptr;  // [T0, k*k*Cin]
    bf16* stem_patches16_ = nullptr; // the same in bf16 precision (stem_patches_ stays null)
    LinearInput stem_input() const { return stem_patches16_ ? LinearInput(stem_patches16_) : LinearInput(stem_patches_); }
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
    std::vector<int64_t> ds_off_[kStages];  // previous stage's computed row -> element offset in the patch matrix
    // head
    float* pooled_ = nullptr;  // [N, C3]
    float* normed_ = nullptr;  // [N, C3]
    float* head_mean_ = nullptr;
    float* head_rstd_ = nullptr;
    float* logits_ = nullptr;  // [N, K]
    LayerNorm head_ln_;
    Linear head_linear_;
    // backward scratch
    float* dlogits_ = nullptr;   // [N, K]
    float* d_normed_ = nullptr;  // [N, C3]
    float* d_pooled_ = nullptr;  // [N, C3]
    float* d_x_[2] = {};         // [max T*C] ping-pong dense residual-stream gradients
    float* d_c_ = nullptr;       // [max rows*C]
    float* d_4c_ = nullptr;      // [max rows*4C]
    bf16* d_4c16_ = nullptr;     // [max rows*4C] bf16 precision
    float* d_dw_ = nullptr;      // [max T*C] masked: dense d(dwconv output)

    struct PlanOnly {};
    ConvNeXtV2(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt, PlanOnly);
    void plan(Arena& a);
    BlockShape shape(int s) const;
};

}  // namespace cnx
