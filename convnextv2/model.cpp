#include "convnextv2/model.h"

#include <cstring>

#include "core/check.h"
#include "core/rng.h"
#include "nn/gelu.h"
#include "nn/patchify.h"
#include "nn/pool.h"
#include "nn/residual.h"

namespace cnx {

ConvNeXtV2::ConvNeXtV2(const ModelConfig& cfg, int64_t batch, bool training, PlanOnly)
    : cfg_(cfg), layout_(make_param_layout(cfg)), N_(batch), training_(training) {
    cfg_.validate();
    CNX_CHECK(batch >= 1, "batch must be positive");
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        st.H = st.W = cfg_.stage_size(s);
        st.C = cfg_.dims[s];
        st.T = N_ * st.H * st.W;
    }
}

size_t ConvNeXtV2::planned_bytes(const ModelConfig& cfg, int64_t batch, bool training) {
    ConvNeXtV2 m(cfg, batch, training, PlanOnly{});
    Arena counter = Arena::counting();
    m.plan(counter);
    return counter.used();
}

ConvNeXtV2::ConvNeXtV2(const ModelConfig& cfg, int64_t batch, bool training)
    : ConvNeXtV2(cfg, batch, training, PlanOnly{}) {
    Arena counter = Arena::counting();
    plan(counter);
    arena_.reserve(counter.used());
    plan(arena_);

    const int k = cfg_.stem_stride;
    const StageActs& s0 = stages_[0];
    stem_linear_.init(s0.T, (int64_t)k * k * cfg_.in_chans, s0.C);
    stem_ln_.init(s0.T, s0.C);
    for (int s = 0; s < kStages; s++) {
        const StageActs& st = stages_[s];
        StageLayers& L = layers_[s];
        L.dw.init(N_, st.H, st.W, st.C);
        L.ln.init(st.T, st.C);
        L.pw1.init(st.T, st.C, 4 * st.C);
        L.pw2.init(st.T, 4 * st.C, st.C);
        L.grn.init(N_, st.H * st.W, 4 * st.C);
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            ds_ln_[s].init(prev.T, prev.C);
            ds_linear_[s].init(st.T, 4 * prev.C, st.C);
            ds_off_[s].resize((size_t)prev.T);
            patch_offsets(ds_off_[s].data(), N_, prev.H, prev.W, prev.C, 2);
        }
    }
    head_ln_.init(N_, cfg_.dims[3]);
    head_linear_.init(N_, cfg_.dims[3], cfg_.num_classes);
}

void ConvNeXtV2::plan(Arena& a) {
    a.reset();
    auto F = [&](int64_t n) { return a.alloc_floats((size_t)n); };
    const int k = cfg_.stem_stride;
    const int64_t K = cfg_.num_classes, C3 = cfg_.dims[3];
    stem_patches_ = F(stages_[0].T * k * k * cfg_.in_chans);
    stem_out_ = F(stages_[0].T * stages_[0].C);
    stem_mean_ = F(stages_[0].T);
    stem_rstd_ = F(stages_[0].T);
    int64_t max_tc = 0;
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        const int64_t T = st.T, C = st.C;
        max_tc = std::max(max_tc, T * C);
        st.x0 = F(T * C);
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            st.ds_patches = F(prev.T * prev.C);
            st.ds_mean = F(prev.T);
            st.ds_rstd = F(prev.T);
        }
        st.blocks.assign((size_t)cfg_.depths[s], BlockActs());
        // Inference keeps no activations for backward: the blocks of a stage share one set of
        // buffers, and the residual stream ping-pongs between x0 and one more buffer.
        BlockActs shared;
        float* other = nullptr;
        if (!training_) {
            shared.dw = F(T * C);
            shared.ln = F(T * C);
            shared.mean = F(T);
            shared.rstd = F(T);
            shared.h = F(T * 4 * C);
            shared.g = F(T * 4 * C);
            shared.r = F(T * 4 * C);
            shared.gx = F(N_ * 4 * C);
            shared.nx = F(N_ * 4 * C);
            shared.y = F(T * C);
            shared.drop_scale = F(N_);
            other = F(T * C);
        }
        for (int j = 0; j < cfg_.depths[s]; j++) {
            BlockActs& b = st.blocks[(size_t)j];
            if (training_) {
                b.dw = F(T * C);
                b.ln = F(T * C);
                b.mean = F(T);
                b.rstd = F(T);
                b.h = F(T * 4 * C);
                b.g = F(T * 4 * C);
                b.r = F(T * 4 * C);
                b.gx = F(N_ * 4 * C);
                b.nx = F(N_ * 4 * C);
                b.y = F(T * C);
                b.drop_scale = F(N_);
                b.x_in = j == 0 ? st.x0 : st.blocks[(size_t)j - 1].x_out;
                b.x_out = F(T * C);
            } else {
                b = shared;
                b.x_in = j % 2 == 0 ? st.x0 : other;
                b.x_out = j % 2 == 0 ? other : st.x0;
            }
        }
    }
    pooled_ = F(N_ * C3);
    normed_ = F(N_ * C3);
    head_mean_ = F(N_);
    head_rstd_ = F(N_);
    logits_ = F(N_ * K);
    dlogits_ = F(N_ * K);
    if (training_) {
        d_normed_ = F(N_ * C3);
        d_pooled_ = F(N_ * C3);
        d_x_[0] = F(max_tc);
        d_x_[1] = F(max_tc);
        d_c_ = F(max_tc);
        d_4c_ = F(4 * max_tc);
    }
}

void ConvNeXtV2::block_forward(const float* P, int s, int j) {
    const StageActs& st = stages_[s];
    StageLayers& L = layers_[s];
    const BlockActs& b = st.blocks[(size_t)j];
    const BlockParams& w = layout_.blocks[s][(size_t)j];
    L.dw.forward(b.dw, b.x_in, P + w.dw_w, P + w.dw_b);
    L.ln.forward(b.ln, nullptr, b.mean, b.rstd, b.dw, nullptr, P + w.ln_w, P + w.ln_b);
    L.pw1.forward(b.h, b.ln, P + w.pw1_w, P + w.pw1_b);
    gelu_forward(b.g, b.h, st.T * 4 * st.C);
    L.grn.forward(b.r, b.gx, b.nx, b.g, P + w.grn_gamma, P + w.grn_beta);
    L.pw2.forward(b.y, b.r, P + w.pw2_w, P + w.pw2_b);
    residual_forward(b.x_out, b.x_in, b.y, b.drop_rate > 0.0f ? b.drop_scale : nullptr, N_, st.T / N_ * st.C);
}

const float* ConvNeXtV2::forward(const float* P, const float* images, float drop_path, uint64_t drop_key) {
    CNX_CHECK(training_ || drop_path == 0.0f, "drop path in an inference model");
    const int k = cfg_.stem_stride;
    const StageActs& s0 = stages_[0];
    patch_gather(stem_patches_, images, N_, cfg_.input_size, cfg_.input_size, cfg_.in_chans, k);
    stem_linear_.forward(stem_out_, stem_patches_, P + layout_.stem_w, P + layout_.stem_b);
    stem_ln_.forward(s0.x0, nullptr, stem_mean_, stem_rstd_, stem_out_, nullptr, P + layout_.stem_ln_w,
                     P + layout_.stem_ln_b);
    int block_index = 0;
    const int total_blocks = cfg_.num_blocks();
    for (int s = 0; s < kStages; s++) {
        StageActs& st = stages_[s];
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            ds_ln_[s].forward(st.ds_patches, ds_off_[s].data(), st.ds_mean, st.ds_rstd, prev.out(), nullptr,
                              P + layout_.ds_ln_w[s], P + layout_.ds_ln_b[s]);
            ds_linear_[s].forward(st.x0, st.ds_patches, P + layout_.ds_w[s], P + layout_.ds_b[s]);
        }
        for (int j = 0; j < cfg_.depths[s]; j++, block_index++) {
            BlockActs& b = st.blocks[(size_t)j];
            b.drop_rate = drop_path_rate_for(block_index, total_blocks, drop_path);
            if (b.drop_rate > 0.0f) {
                Rng rng(stream_key(drop_key, kRngDropPath, (uint64_t)block_index));
                drop_path_scales(b.drop_scale, N_, b.drop_rate, rng);
            }
            block_forward(P, s, j);
        }
    }
    const StageActs& s3 = stages_[3];
    avgpool_forward(pooled_, s3.out(), N_, s3.H * s3.W, s3.C);
    head_ln_.forward(normed_, nullptr, head_mean_, head_rstd_, pooled_, nullptr, P + layout_.norm_w,
                     P + layout_.norm_b);
    head_linear_.forward(logits_, normed_, P + layout_.head_w, P + layout_.head_b);
    return logits_;
}

// dx holds d(x_out) on entry and d(x_in) on return.
void ConvNeXtV2::block_backward(const float* P, float* G, int s, int j, float* dx) {
    const StageActs& st = stages_[s];
    StageLayers& L = layers_[s];
    const BlockActs& b = st.blocks[(size_t)j];
    const BlockParams& w = layout_.blocks[s][(size_t)j];
    const int64_t TC = st.T * st.C;
    const float* dy = dx;
    if (b.drop_rate > 0.0f) {
        residual_branch_grad(d_c_, dx, b.drop_scale, N_, TC / N_);
        dy = d_c_;
    }
    float* d4 = d_4c_;
    L.pw2.backward_weights(G + w.pw2_w, G + w.pw2_b, dy, b.r);
    L.pw2.backward_data(d4, dy, P + w.pw2_w, false);
    L.grn.backward(d4, G + w.grn_gamma, G + w.grn_beta, d4, b.g, b.gx, b.nx, P + w.grn_gamma);
    gelu_backward(d4, d4, b.h, 4 * TC);
    L.pw1.backward_weights(G + w.pw1_w, G + w.pw1_b, d4, b.ln);
    L.pw1.backward_data(d_c_, d4, P + w.pw1_w, false);
    L.ln.backward(d_c_, nullptr, G + w.ln_w, G + w.ln_b, d_c_, nullptr, b.dw, nullptr, b.mean, b.rstd, P + w.ln_w);
    L.dw.backward_weights(G + w.dw_w, G + w.dw_b, d_c_, b.x_in);
    L.dw.backward_data(dx, d_c_, P + w.dw_w);
}

void ConvNeXtV2::backward(const float* P, float* G, const float* dlogits) {
    CNX_CHECK(training_, "backward on an inference model");
    const StageActs& s3 = stages_[3];
    head_linear_.backward_weights(G + layout_.head_w, G + layout_.head_b, dlogits, normed_);
    head_linear_.backward_data(d_normed_, dlogits, P + layout_.head_w, false);
    head_ln_.backward(d_pooled_, nullptr, G + layout_.norm_w, G + layout_.norm_b, d_normed_, nullptr, pooled_, nullptr,
                      head_mean_, head_rstd_, P + layout_.norm_w);
    int cur = 0;
    avgpool_backward(d_x_[cur], d_pooled_, N_, s3.H * s3.W, s3.C);
    for (int s = kStages - 1; s >= 0; s--) {
        StageActs& st = stages_[s];
        for (int j = cfg_.depths[s] - 1; j >= 0; j--) block_backward(P, G, s, j, d_x_[cur]);
        if (s > 0) {
            const StageActs& prev = stages_[s - 1];
            ds_linear_[s].backward_weights(G + layout_.ds_w[s], G + layout_.ds_b[s], d_x_[cur], st.ds_patches);
            ds_linear_[s].backward_data(d_4c_, d_x_[cur], P + layout_.ds_w[s], false);
            ds_ln_[s].backward(d_x_[1 - cur], nullptr, G + layout_.ds_ln_w[s], G + layout_.ds_ln_b[s], d_4c_,
                               ds_off_[s].data(), prev.out(), nullptr, st.ds_mean, st.ds_rstd,
                               P + layout_.ds_ln_w[s]);
            cur = 1 - cur;
        }
    }
    // stem: LayerNorm backward in place, then the patch conv's weight gradient (no image gradient).
    stem_ln_.backward(d_x_[cur], nullptr, G + layout_.stem_ln_w, G + layout_.stem_ln_b, d_x_[cur], nullptr,
                      stem_out_, nullptr, stem_mean_, stem_rstd_, P + layout_.stem_ln_w);
    stem_linear_.backward_weights(G + layout_.stem_w, G + layout_.stem_b, d_x_[cur], stem_patches_);
}

}  // namespace cnx
