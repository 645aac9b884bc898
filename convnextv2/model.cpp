#include "convnextv2/model.h"

#include <cstring>

#include "core/check.h"
#include "core/rng.h"
#include "nn/gelu.h"
#include "nn/patchify.h"
#include "nn/pool.h"
#include "nn/residual.h"
#include "nn/tokens.h"

namespace cnx {

ConvNeXtV2::ConvNeXtV2(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt, PlanOnly)
    : cfg_(cfg), opt_(opt), layout_(make_param_layout(cfg, opt.with_head)), N_(batch) {
    cfg_.validate();
    CNX_CHECK(batch >= 1, "batch must be positive");
    CNX_CHECK(!masked() || !opt.with_head, "a masked model is an encoder (no head)");
    CNX_CHECK(opt.mask_ratio <= 1.0, "mask ratio above 1");
    const int64_t grid = cfg_.stage_size(3);
    keep_ = masked() ? mask_keep_count(grid * grid, opt.mask_ratio) : grid * grid;
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        st.H = st.W = cfg_.stage_size(s);
        st.C = cfg_.dims[s];
        st.T = N_ * st.H * st.W;
        const int64_t tile = st.H / grid;
        st.rows = masked() ? N_ * keep_ * tile * tile : st.T;
    }
}

size_t ConvNeXtV2::planned_bytes(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt) {
    ConvNeXtV2 m(cfg, batch, opt, PlanOnly{});
    Arena counter = Arena::counting();
    m.plan(counter);
    return counter.used();
}

ConvNeXtV2::ConvNeXtV2(const ModelConfig& cfg, int64_t batch, const ModelOptions& opt)
    : ConvNeXtV2(cfg, batch, opt, PlanOnly{}) {
    Arena counter = Arena::counting();
    plan(counter);
    arena_.reserve(counter.used());
    plan(arena_);

    const int k = cfg_.stem_stride;
    const StageActs& s0 = stages_[0];
    stem_linear_.init(s0.T, (int64_t)k * k * cfg_.in_chans, s0.C, opt_.precision);
    stem_ln_.init(s0.T, s0.C);
    const int64_t grid = this->grid();
    for (int s = 0; s < kStages; s++) {
        const StageActs& st = stages_[s];
        const int64_t tile = st.H / grid;
        layers_[s].init(N_, st.H, st.W, st.C, st.rows, masked() ? keep_ * tile * tile : st.H * st.W, opt_.precision);
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            ds_ln_[s].init(prev.rows, prev.C);
            ds_linear_[s].init(st.rows, 4 * prev.C, st.C, opt_.precision);
            if (!masked()) {
                ds_off_[s].resize((size_t)prev.T);
                patch_offsets(ds_off_[s].data(), N_, prev.H, prev.W, prev.C, 2);
            }
        }
    }
    if (opt_.with_head) {
        head_ln_.init(N_, cfg_.dims[3]);
        head_linear_.init(N_, cfg_.dims[3], cfg_.num_classes, opt_.precision);
    }
}

void ConvNeXtV2::plan(Arena& a) {
    a.reset();
    auto F = [&](int64_t n) { return a.alloc_floats((size_t)n); };
    auto H = [&](int64_t n) { return reinterpret_cast<bf16*>(a.alloc_floats((size_t)(n + 1) / 2)); };
    const int k = cfg_.stem_stride;
    const int64_t K = cfg_.num_classes, C3 = cfg_.dims[3];
    const bool train = opt_.training, half = opt_.precision == Precision::kBf16;
    if (half) stem_patches16_ = H(stages_[0].T * k * k * cfg_.in_chans);
    else stem_patches_ = F(stages_[0].T * k * k * cfg_.in_chans);
    stem_out_ = F(stages_[0].T * stages_[0].C);
    stem_mean_ = F(stages_[0].T);
    stem_rstd_ = F(stages_[0].T);
    int64_t max_tc = 0, max_rc = 0;
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        const int64_t T = st.T, R = st.rows, C = st.C;
        max_tc = std::max(max_tc, T * C);
        max_rc = std::max(max_rc, R * C);
        st.x0 = F(T * C);
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            if (half) st.ds_patches16 = H(prev.rows * prev.C);
            else st.ds_patches = F(prev.rows * prev.C);
            st.ds_mean = F(prev.rows);
            st.ds_rstd = F(prev.rows);
            if (masked()) st.ds_out = F(R * C);
        }
        st.blocks.assign((size_t)cfg_.depths[s], BlockActs());
        // Inference keeps no activations for backward: the blocks of a stage share one set of
        // buffers, and the residual stream ping-pongs between x0 and one more buffer.
        BlockActs shared;
        float* other = nullptr;
        if (!train) {
            alloc_block_acts(shared, a, N_, T, R, C, opt_.precision);
            other = F(T * C);
        }
        for (int j = 0; j < cfg_.depths[s]; j++) {
            BlockActs& b = st.blocks[(size_t)j];
            if (train) {
                alloc_block_acts(b, a, N_, T, R, C, opt_.precision, j > 0 ? &st.blocks[0] : nullptr);
                b.x_in = j == 0 ? st.x0 : st.blocks[(size_t)j - 1].x_out;
                b.x_out = F(T * C);
            } else {
                b = shared;
                b.x_in = j % 2 == 0 ? st.x0 : other;
                b.x_out = j % 2 == 0 ? other : st.x0;
            }
        }
    }
    if (opt_.with_head) {
        pooled_ = F(N_ * C3);
        normed_ = F(N_ * C3);
        head_mean_ = F(N_);
        head_rstd_ = F(N_);
        logits_ = F(N_ * K);
        dlogits_ = F(N_ * K);
    }
    if (train) {
        if (opt_.with_head) {
            d_normed_ = F(N_ * C3);
            d_pooled_ = F(N_ * C3);
        }
        d_x_[0] = F(max_tc);
        d_x_[1] = F(max_tc);
        d_c_ = F(max_rc);
        d_4c_ = F(4 * max_rc);
        d_4c16_ = alloc_block_scratch16(a, 4 * max_rc, opt_.precision);
        if (masked()) d_dw_ = F(max_tc);
    }
}

void ConvNeXtV2::set_mask(const uint8_t* mask) {
    CNX_CHECK(masked(), "set_mask on a dense model");
    const int64_t grid = this->grid();
    for (int s = 0; s < kStages; s++) {
        const StageActs& st = stages_[s];
        active_[s].build(mask, N_, grid, st.H / grid, st.C);
        CNX_CHECK(active_[s].rows == st.rows, "the mask keeps a different number of patches than planned");
        active_[s].plan_depthwise(layers_[s].dw);
        if (s > 0) masked_patch_offsets(ds_off_[s], active_[s - 1], active_[s]);
    }
    mask_set_ = true;
}

BlockShape ConvNeXtV2::shape(int s) const {
    const StageActs& st = stages_[s];
    return BlockShape{N_, st.H, st.W, st.C, masked() ? &active_[s] : nullptr};
}

const float* ConvNeXtV2::forward(Weights params, const float* images, float drop_path, uint64_t drop_key) {
    CNX_CHECK(opt_.training || drop_path == 0.0f, "drop path in an inference model");
    CNX_CHECK(!masked() || mask_set_, "masked model: set_mask before forward");
    const int k = cfg_.stem_stride;
    const StageActs& s0 = stages_[0];
    if (stem_patches16_) patch_gather(stem_patches16_, images, N_, cfg_.input_size, cfg_.input_size, cfg_.in_chans, k);
    else patch_gather(stem_patches_, images, N_, cfg_.input_size, cfg_.input_size, cfg_.in_chans, k);
    stem_linear_.forward(stem_out_, stem_input(), params.gemm(layout_.stem_w), params + layout_.stem_b);
    stem_ln_.forward(s0.x0, stem_mean_, stem_rstd_, stem_out_, params + layout_.stem_ln_w, params + layout_.stem_ln_b);
    if (masked()) zero_regions(s0.x0, active_[0].masked, s0.H, s0.W, s0.C);
    int block_index = 0;
    const int total_blocks = cfg_.num_blocks();
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            const int64_t* prev_off = masked() ? active_[s - 1].dense_off.data() : nullptr;
            const ConstRows prev_rows(prev.out(), prev_off);
            const float *ln_w = params + layout_.ds_ln_w[s], *ln_b = params + layout_.ds_ln_b[s];
            if (st.ds_patches16) ds_ln_[s].forward(RowsOf<bf16>(st.ds_patches16, ds_off_[s].data()), st.ds_mean, st.ds_rstd, prev_rows, ln_w, ln_b);
            else ds_ln_[s].forward(Rows(st.ds_patches, ds_off_[s].data()), st.ds_mean, st.ds_rstd, prev_rows, ln_w, ln_b);
            if (masked()) {
                ds_linear_[s].forward(st.ds_out, st.ds_input(), params.gemm(layout_.ds_w[s]), params + layout_.ds_b[s]);
                scatter_rows(st.x0, st.ds_out, active_[s].dense_off.data(), st.rows, st.C);
                zero_regions(st.x0, active_[s].masked, st.H, st.W, st.C);
            } else {
                ds_linear_[s].forward(st.x0, st.ds_input(), params.gemm(layout_.ds_w[s]), params + layout_.ds_b[s]);
            }
        }
        for (int j = 0; j < cfg_.depths[s]; j++, block_index++) {
            BlockActs& b = st.blocks[(size_t)j];
            b.drop_rate = drop_path_rate_for(block_index, total_blocks, drop_path);
            if (b.drop_rate > 0.0f) {
                drop_path_scales(b.drop_scale, N_, b.drop_rate, stream_key(drop_key, kRngDropPath, (uint64_t)block_index),
                                 first_sample_);
            }
            block_forward(layers_[s], b, layout_.blocks[s][(size_t)j], params, shape(s));
        }
    }
    const StageActs& s3 = stages_[3];
    if (!opt_.with_head) return s3.out();
    avgpool_forward(pooled_, s3.out(), N_, s3.H * s3.W, s3.C);
    head_ln_.forward(normed_, head_mean_, head_rstd_, pooled_, params + layout_.norm_w, params + layout_.norm_b);
    head_linear_.forward(logits_, normed_, params.gemm(layout_.head_w), params + layout_.head_b);
    return logits_;
}

void ConvNeXtV2::set_grad_ready(GradReady f) {
    grad_ready_ = std::move(f);
    const ParamLayout& L = layout_;
    if (opt_.with_head) head_span_ = L.span({"norm.", "head."});
    stem_span_ = L.span("downsample_layers.0.");
    for (int s = 0; s < kStages; s++) {
        if (s > 0) ds_span_[s] = L.span("downsample_layers." + std::to_string(s) + ".");
        block_span_[s].clear();
        for (int j = 0; j < cfg_.depths[s]; j++)
            block_span_[s].push_back(L.span("stages." + std::to_string(s) + "." + std::to_string(j) + "."));
    }
}

void ConvNeXtV2::backward(Weights params, float* grads, const float* d_out) {
    CNX_CHECK(opt_.training, "backward on an inference model");
    const StageActs& s3 = stages_[3];
    int cur = 0;
    if (opt_.with_head) {
        head_linear_.backward(d_normed_, grads + layout_.head_w, grads + layout_.head_b, d_out, normed_, params.gemm(layout_.head_w),
                              false);
        head_ln_.backward(d_pooled_, grads + layout_.norm_w, grads + layout_.norm_b, d_normed_, pooled_, head_mean_,
                          head_rstd_, params + layout_.norm_w);
        avgpool_backward(d_x_[cur], d_pooled_, N_, s3.H * s3.W, s3.C);
        report(head_span_);
    } else {
        std::memcpy(d_x_[cur], d_out, (size_t)(s3.T * s3.C) * sizeof(float));
    }
    const BlockScratch scratch{d_c_, d_4c_, d_dw_, d_4c16_};
    for (int s = kStages - 1; s >= 0; s--) {
        StageActs& st = stages_[s];
        if (masked()) zero_regions(d_dw_, active_[s].masked, st.H, st.W, st.C);
        for (int j = cfg_.depths[s] - 1; j >= 0; j--) {
            block_backward(layers_[s], st.blocks[(size_t)j], layout_.blocks[s][(size_t)j], params, grads, shape(s),
                           d_x_[cur], scratch);
            if (grad_ready_) report(block_span_[s][(size_t)j]);  // the spans exist once a hook is set
        }
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            const int64_t* prev_off = masked() ? active_[s - 1].dense_off.data() : nullptr;
            const float* d_ds = d_x_[cur];
            if (masked()) {  // the conv's output gradient, compact
                gather_rows(d_c_, d_x_[cur], active_[s].dense_off.data(), st.rows, st.C);
                d_ds = d_c_;
            }
            ds_linear_[s].backward(d_4c_, grads + layout_.ds_w[s], grads + layout_.ds_b[s], d_ds, st.ds_input(),
                                   params.gemm(layout_.ds_w[s]), false);
            ds_ln_[s].backward(Rows(d_x_[1 - cur], prev_off), grads + layout_.ds_ln_w[s], grads + layout_.ds_ln_b[s],
                               ConstRows(d_4c_, ds_off_[s].data()), ConstRows(prev.out(), prev_off), st.ds_mean,
                               st.ds_rstd, params + layout_.ds_ln_w[s]);
            report(ds_span_[s]);
            cur = 1 - cur;
        }
    }
    // stem: LayerNorm backward in place (masked sites carry no gradient: their output was zeroed),
    // then the patch conv's weight gradient (no image gradient).
    const StageActs& s0 = stages_[0];
    if (masked()) zero_regions(d_x_[cur], active_[0].masked, s0.H, s0.W, s0.C);
    stem_ln_.backward(d_x_[cur], grads + layout_.stem_ln_w, grads + layout_.stem_ln_b, d_x_[cur], stem_out_, stem_mean_,
                      stem_rstd_, params + layout_.stem_ln_w);
    stem_linear_.backward(nullptr, grads + layout_.stem_w, grads + layout_.stem_b, d_x_[cur], stem_input(), params.gemm(layout_.stem_w),
                          false);
    report(stem_span_);
}

}  // namespace cnx
