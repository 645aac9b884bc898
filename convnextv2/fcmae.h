// FCMAE pre-training: a masked ConvNeXt V2 encoder, a one-block decoder and a
// normalised-pixel loss on the masked patches.
//
//   encoder (masked, convnextv2/model.h) -> final map [N, grid, grid, C3], zero at masked patches
//   proj: 1x1 conv C3 -> D (512)            -> mask token at masked cells (proj output discarded there)
//   decoder.0: one dense ConvNeXt V2 block of width D on the grid x grid patch grid
//   pred: 1x1 conv D -> patch*patch*Cin     (patch = pixels per patch side = 8 x stem stride)
//   loss: per masked patch, target = (pixels - mean) / sqrt(unbiased var + 1e-6) over its patch*patch*Cin
//         values, ordered (row, col, channel); MSE averaged within the patch, then over every masked
//         patch of the batch.
//
// Parameters: the encoder's tensors first (the same flat layout as the encoder alone, so its pointer
// is the start of the buffer), then proj, mask_token, decoder.0.*, pred. Checkpoint names put the
// encoder under "encoder." with the dense official names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convnextv2/model.h"

namespace cnx {

constexpr int64_t kDecoderDim = 512;

struct FcmaeLayout {
    ParamLayout all;      // checkpoint names: "encoder." + encoder names, then the decoder side
    ParamLayout encoder;  // the encoder alone (same offsets from 0, no prefix)
    int64_t proj_w = 0, proj_b = 0, mask_token = 0, pred_w = 0, pred_b = 0;
    BlockParams decoder;
};

FcmaeLayout make_fcmae_layout(const ModelConfig& cfg);
// Pixels per patch side: input size / final grid = 8 x stem stride.
int64_t fcmae_patch(const ModelConfig& cfg);

// Optimizer groups of pre-training (timm 0.3.2 rule): no weight decay for 1-D tensors and
// biases; decay for everything else, GRN gamma/beta and the mask token included.
std::vector<ParamGroup> fcmae_param_groups(const FcmaeLayout& L, float weight_decay);

class Fcmae {
public:
    Fcmae(const ModelConfig& cfg, int64_t batch, double mask_ratio, bool training, Precision precision = Precision::kFp32);

    const FcmaeLayout& layout() const { return layout_; }
    const ModelConfig& config() const { return cfg_; }
    int64_t batch() const { return N_; }
    int64_t grid() const { return grid_; }
    int64_t patch() const { return patch_; }
    int64_t patch_values() const { return patch_ * patch_ * cfg_.in_chans; }
    const ConvNeXtV2& encoder() const { return encoder_; }

    // Data-parallel: the global index of this process's first sample, whose random streams (masks,
    // drop path) it draws (0 alone).
    void set_first_sample(int64_t first) {
        first_sample_ = first;
        encoder_.set_first_sample(first);
    }
    // As ConvNeXtV2::set_grad_ready, for the decoder's and the encoder's gradients.
    void set_grad_ready(ConvNeXtV2::GradReady f);
    // This step's mask: drawn from a key, or given ([N, grid*grid], 1 = removed).
    void draw_mask(uint64_t key);
    void set_mask(const uint8_t* mask);
    const std::vector<uint8_t>& mask() const { return mask_; }

    // images [N, S, S, Cin], normalised. Returns the loss (0 when no patch is masked).
    double forward(Weights params, const float* images);
    // Accumulates every parameter's gradient of the loss into grads.
    void backward(Weights params, float* grads);

    // Predictions [N, grid*grid, patch*patch*Cin] (normalised-pixel space) of the last forward, and the (mean, sd)
    // of each masked patch's pixels that map them back: pixels = prediction * sd + mean.
    const float* prediction() const { return pred_; }
    const float* patch_stats() const { return patch_stats_.data(); }
    // Wall time of the encoder's part of the last forward and backward (for benchmarks).
    double encoder_seconds() const { return enc_fwd_s_ + enc_bwd_s_; }

private:
    ModelConfig cfg_;
    FcmaeLayout layout_;
    int64_t N_, grid_, patch_;
    int64_t first_sample_ = 0;
    ConvNeXtV2 encoder_;
    std::vector<uint8_t> mask_;
    int64_t masked_ = 0;              // removed patches in mask_
    std::vector<double> row_loss_;    // [N*L] per-patch loss, summed in order for determinism
    std::vector<float> patch_stats_;  // [N*L][mean, sd] at masked patches
    Arena arena_;
    Linear proj_, pred_linear_;
    StageLayers dec_layers_;
    BlockActs dec_;
    float* proj_out_ = nullptr;  // [N*L, D] decoder input: proj output, mask token at masked cells
    float* pred_ = nullptr;      // [N*L, PPC]
    float* target_ = nullptr;    // [N*L, PPC], written at masked patches only
    float* d_pred_ = nullptr;    // [N*L, PPC]
    float* d_dec_ = nullptr;     // [N*L, D]
    float* d_enc_ = nullptr;     // [N*L, C3]
    float* d_c_ = nullptr;       // decoder block scratch [N*L, D]
    float* d_4c_ = nullptr;      // [N*L, 4D]
    bf16* d_4c16_ = nullptr;     // [N*L, 4D] bf16 precision
    const float* enc_out_ = nullptr;
    double ratio_;
    bool training_;
    Precision precision_;
    double enc_fwd_s_ = 0, enc_bwd_s_ = 0;
    ConvNeXtV2::GradReady grad_ready_;
    std::pair<int64_t, int64_t> pred_span_, decoder_span_, proj_span_;  // proj with the mask token

    void plan(Arena& a);
    void mask_changed();
};

}  // namespace cnx
