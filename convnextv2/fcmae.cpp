#include "convnextv2/fcmae.h"

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/timer.h"
#include "nn/parallel.h"

namespace cnx {

int64_t fcmae_patch(const ModelConfig& cfg) { return cfg.input_size / cfg.stage_size(3); }

FcmaeLayout make_fcmae_layout(const ModelConfig& cfg) {
    FcmaeLayout F;
    F.encoder = make_param_layout(cfg, false);
    F.all = F.encoder;
    for (ParamTensor& t : F.all.tensors) t.name = "encoder." + t.name;
    ParamLayout& L = F.all;
    const int64_t C3 = cfg.dims[3], D = kDecoderDim, patch = fcmae_patch(cfg);
    const int id = L.num_layers + 1;
    F.proj_w = add_param(L, "proj.weight", {D, C3, 1, 1}, TensorLayout::Plain, false, id);
    F.proj_b = add_param(L, "proj.bias", {D}, TensorLayout::Plain, true, id);
    F.mask_token = add_param(L, "mask_token", {1, D, 1, 1}, TensorLayout::Plain, false, id);
    F.decoder = add_block_params(L, "decoder.0.", D, id);
    F.pred_w = add_param(L, "pred.weight", {patch * patch * cfg.in_chans, D, 1, 1}, TensorLayout::Plain, false, id);
    F.pred_b = add_param(L, "pred.bias", {patch * patch * cfg.in_chans}, TensorLayout::Plain, true, id);
    return F;
}

std::vector<ParamGroup> fcmae_param_groups(const FcmaeLayout& F, float weight_decay) {
    std::vector<ParamGroup> groups;
    for (const ParamTensor& t : F.all.tensors) {
        const bool bias = t.name.size() >= 5 && t.name.compare(t.name.size() - 5, 5, ".bias") == 0;
        ParamGroup g;
        g.offset = t.offset;
        g.count = t.numel;
        g.weight_decay = (t.shape.size() == 1 || bias) ? 0.0 : (double)weight_decay;
        if (!groups.empty() && groups.back().offset + groups.back().count == g.offset &&
            groups.back().weight_decay == g.weight_decay) {
            groups.back().count += g.count;
            continue;
        }
        groups.push_back(g);
    }
    return groups;
}

static ModelOptions encoder_options(bool training, double ratio, Precision precision) {
    ModelOptions o;
    o.precision = precision;
    o.training = training;
    o.with_head = false;
    o.mask_ratio = ratio;
    return o;
}

Fcmae::Fcmae(const ModelConfig& cfg, int64_t batch, double mask_ratio, bool training, Precision precision)
    : cfg_(cfg),
      layout_(make_fcmae_layout(cfg)),
      N_(batch),
      grid_(cfg.stage_size(3)),
      patch_(fcmae_patch(cfg)),
      encoder_(cfg, batch, encoder_options(training, mask_ratio, precision)),
      ratio_(mask_ratio),
      training_(training),
      precision_(precision) {
    if (mask_ratio < 0 || mask_ratio > 1) fail("mask ratio %g is outside [0, 1]", mask_ratio);
    mask_.assign((size_t)(N_ * grid_ * grid_), 0);
    row_loss_.assign(mask_.size(), 0.0);
    patch_stats_.assign(2 * mask_.size(), 0.0f);
    Arena counter = Arena::counting();
    plan(counter);
    arena_.reserve(counter.used());
    plan(arena_);
    const int64_t M = N_ * grid_ * grid_, D = kDecoderDim;
    proj_.init(M, cfg.dims[3], D, precision);
    pred_linear_.init(M, D, patch_values(), precision);
    dec_layers_.init(N_, grid_, grid_, D, M, grid_ * grid_, precision);
}

void Fcmae::plan(Arena& a) {
    a.reset();
    auto F = [&](int64_t n) { return a.alloc_floats((size_t)n); };
    const int64_t M = N_ * grid_ * grid_, D = kDecoderDim, K = patch_values();
    proj_out_ = F(M * D);
    dec_ = BlockActs();
    alloc_block_acts(dec_, a, N_, M, M, D, precision_);
    dec_.x_in = proj_out_;
    dec_.x_out = F(M * D);
    pred_ = F(M * K);
    target_ = F(M * K);
    if (training_) {
        d_pred_ = F(M * K);
        d_dec_ = F(M * D);
        d_enc_ = F(M * cfg_.dims[3]);
        d_c_ = F(M * D);
        d_4c_ = F(M * 4 * D);
        d_4c16_ = alloc_block_scratch16(a, M * 4 * D, precision_);
    }
}

void Fcmae::draw_mask(uint64_t key) {
    make_mask(mask_.data(), N_, grid_ * grid_, ratio_, key, first_sample_);
    mask_changed();
}

void Fcmae::set_mask(const uint8_t* mask) {
    mask_.assign(mask, mask + N_ * grid_ * grid_);
    mask_changed();
}

void Fcmae::mask_changed() {
    encoder_.set_mask(mask_.data());
    masked_ = 0;
    for (uint8_t m : mask_) masked_ += m;
}

// Patch l = (py, px) of image n as its patch*patch*Cin values in (row, col, channel) order.
static void patch_values_of(float* out, const float* images, int64_t n, int64_t l, int64_t grid, int64_t patch,
                            int64_t S, int64_t C) {
    const int64_t py = l / grid, px = l % grid;
    for (int64_t p = 0; p < patch; p++) {
        const float* row = images + ((n * S + py * patch + p) * S + px * patch) * C;
        std::memcpy(out + p * patch * C, row, (size_t)(patch * C) * sizeof(float));
    }
}

double Fcmae::forward(Weights params, const float* images) {
    const int64_t L = grid_ * grid_, M = N_ * L, D = kDecoderDim, K = patch_values();
    const double t0 = now_seconds();
    enc_out_ = encoder_.forward(params, images);
    enc_fwd_s_ = now_seconds() - t0;
    enc_bwd_s_ = 0;
    proj_.forward(proj_out_, enc_out_, params.gemm(layout_.proj_w), params + layout_.proj_b);
    const float* token = params + layout_.mask_token;
    for (int64_t r = 0; r < M; r++)
        if (mask_[(size_t)r]) std::memcpy(proj_out_ + r * D, token, (size_t)D * sizeof(float));
    block_forward(dec_layers_, dec_, layout_.decoder, params, BlockShape{N_, grid_, grid_, D, nullptr});
    pred_linear_.forward(pred_, dec_.x_out, params.gemm(layout_.pred_w), params + layout_.pred_b);

    // normalised-pixel targets and the loss, both on masked patches only
    parallel_for(M, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) {
            row_loss_[(size_t)r] = 0.0;
            if (!mask_[(size_t)r]) continue;
            float* t = target_ + r * K;
            patch_values_of(t, images, r / L, r % L, grid_, patch_, cfg_.input_size, cfg_.in_chans);
            double mean = 0, var = 0;
            for (int64_t k = 0; k < K; k++) mean += t[k];
            mean /= (double)K;
            for (int64_t k = 0; k < K; k++) var += (t[k] - mean) * (t[k] - mean);
            var /= (double)(K - 1);  // unbiased, as torch.var
            const double sd = std::sqrt(var + 1e-6), inv = 1.0 / sd;
            patch_stats_[(size_t)(2 * r)] = (float)mean;
            patch_stats_[(size_t)(2 * r + 1)] = (float)sd;
            for (int64_t k = 0; k < K; k++) t[k] = (float)((t[k] - mean) * inv);
            const float* p = pred_ + r * K;
            double se = 0;
            for (int64_t k = 0; k < K; k++) {
                const double d = (double)p[k] - t[k];
                se += d * d;
            }
            row_loss_[(size_t)r] = se / (double)K;
        }
    });
    double total = 0.0;
    for (double v : row_loss_) total += v;  // fixed order: deterministic
    return masked_ ? total / (double)masked_ : 0.0;
}

void Fcmae::set_grad_ready(ConvNeXtV2::GradReady f) {
    encoder_.set_grad_ready(f);
    grad_ready_ = std::move(f);
    pred_span_ = layout_.all.span("pred.");
    decoder_span_ = layout_.all.span("decoder.");
    proj_span_ = layout_.all.span({"proj.", "mask_token"});
}

void Fcmae::backward(Weights params, float* grads) {
    CNX_CHECK(training_, "backward on an inference model");
    const int64_t L = grid_ * grid_, M = N_ * L, D = kDecoderDim, K = patch_values();
    const float scale = masked_ ? (float)(2.0 / ((double)K * (double)masked_)) : 0.0f;
    parallel_for(M, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) {
            float* d = d_pred_ + r * K;
            if (!mask_[(size_t)r]) {
                std::memset(d, 0, (size_t)K * sizeof(float));
                continue;
            }
            const float* p = pred_ + r * K;
            const float* t = target_ + r * K;
            for (int64_t k = 0; k < K; k++) d[k] = scale * (p[k] - t[k]);
        }
    });
    pred_linear_.backward(d_dec_, grads + layout_.pred_w, grads + layout_.pred_b, d_pred_, dec_.x_out, params.gemm(layout_.pred_w),
                          false);
    if (grad_ready_) grad_ready_(pred_span_.first, pred_span_.second);
    block_backward(dec_layers_, dec_, layout_.decoder, params, grads, BlockShape{N_, grid_, grid_, D, nullptr}, d_dec_,
                   BlockScratch{d_c_, d_4c_, nullptr, d_4c16_});
    if (grad_ready_) grad_ready_(decoder_span_.first, decoder_span_.second);
    // d_dec_ now holds d(decoder input): the mask token takes the masked cells, proj the others.
    float* dtok = grads + layout_.mask_token;
    for (int64_t r = 0; r < M; r++) {
        if (!mask_[(size_t)r]) continue;
        float* d = d_dec_ + r * D;
        for (int64_t c = 0; c < D; c++) dtok[c] += d[c];
        std::memset(d, 0, (size_t)D * sizeof(float));
    }
    proj_.backward(d_enc_, grads + layout_.proj_w, grads + layout_.proj_b, d_dec_, enc_out_, params.gemm(layout_.proj_w), false);
    if (grad_ready_) grad_ready_(proj_span_.first, proj_span_.second);
    const double t0 = now_seconds();
    encoder_.backward(params, grads, d_enc_);
    enc_bwd_s_ = now_seconds() - t0;
}

}  // namespace cnx
