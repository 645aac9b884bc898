// The supervised task of the training loop (tools/train.cpp): cross-entropy with label smoothing and
// drop path, from scratch or fine-tuning a checkpoint (--init); after each epoch, top-1/top-5 and the
// loss on the test split, for the raw and the EMA weights.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "convnextv2/checkpoint.h"
#include "convnextv2/torch_import.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/rng.h"
#include "nn/loss.h"
#include "tools/mixup.h"
#include "tools/train.h"

namespace cnx {

EvalResult evaluate(ConvNeXtV2& net, Weights params, const Dataset& d, const Transform& t) {
    const int64_t B = net.batch(), n = d.size(), K = net.config().num_classes;
    Batch batch(B, t);
    EvalResult r;
    r.classes = K;
    r.confusion.assign((size_t)(K * K), 0);
    double loss_sum = 0;
    int64_t top1 = 0, top5 = 0;
    // data-parallel: rank r evaluates batches r, r + N, ... and the sums are reduced
    for (int64_t b0 = B * dist_rank(); b0 < n; b0 += B * dist_size()) {
        const int64_t valid = std::min(B, n - b0);
        for (int64_t i = 0; i < B; i++) batch.idx[(size_t)i] = b0 + (i < valid ? i : 0);  // pad with a repeat
        batch.fill(d, 0);
        const float* z = net.forward(params, batch.images.data());
        const int64_t bad = find_non_finite(z, valid * K);
        if (bad >= 0)
            fail("%s: the model's output for image %lld is not finite (%g); the weights are unusable for this data",
                 d.name.c_str(), (long long)(b0 + bad / K), (double)z[bad]);
        const int32_t* labels = batch.labels.data();
        loss_sum += cross_entropy(nullptr, z, labels, valid, K, 0.0f) * (double)valid;
        top1 += count_topk_correct(z, labels, valid, K, 1);
        for (int64_t i = 0; i < valid; i++) {
            const float* zi = z + i * K;
            const int64_t pred = std::max_element(zi, zi + K) - zi;
            r.confusion[(size_t)(labels[i] * K + pred)]++;
        }
        top5 += count_topk_correct(z, labels, valid, K, std::min<int64_t>(5, K));
    }
    double sums[3] = {loss_sum, (double)top1, (double)top5};
    dist_sum(sums, 3);
    dist_sum(r.confusion.data(), (int64_t)r.confusion.size());
    loss_sum = sums[0];
    top1 = (int64_t)sums[1];
    top5 = (int64_t)sums[2];
    r.count = n;
    r.loss = loss_sum / (double)n;
    r.top1 = (double)top1 / (double)n;
    r.top5 = (double)top5 / (double)n;
    return r;
}

namespace {

class SupervisedTask : public Task {
public:
    SupervisedTask(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data, const Transform& eval_t)
        : Task(cfg, opt, data, eval_t),
          net_(cfg, opt.batch, model_options(opt, true)),
          eval_net_(cfg, std::min<int64_t>(opt.eval_batch, data.test.size()), model_options(opt, false)) {
        mix_.mixup_alpha = opt.mixup;
        mix_.cutmix_alpha = opt.cutmix;
        mix_.prob = opt.mixup_prob;
        mix_.switch_prob = opt.mixup_switch_prob;
        mix_.mode = parse_mixup_mode(opt.mixup_mode);
        mix_.smoothing = opt.smoothing;
        if (mix_.enabled() && opt.batch % 2)
            fail("Mixup/CutMix mix sample i with sample B-1-i, so each process needs an even batch (it has %lld)",
                 (long long)opt.batch);
        if (mix_.enabled()) targets_.resize((size_t)(opt.batch * cfg.num_classes));
    }

    const ParamLayout& layout() const override { return net_.layout(); }
    std::vector<ParamGroup> param_groups() const override {
        return cnx::param_groups(net_.layout(), (float)opt_.weight_decay, (float)opt_.layer_decay,
                                 parse_layer_decay_mode(opt_.layer_decay_type));
    }
    const char* gemm_impl() const override { return net_.gemm_impl(); }
    void set_data_parallel(int64_t first_sample, ConvNeXtV2::GradReady ready) override {
        net_.set_first_sample(first_sample);
        first_sample_ = first_sample;
        net_.set_grad_ready(std::move(ready));
    }

    void init_params(float* params) override {
        const ParamLayout& L = net_.layout();
        cnx::init_params(params, L, opt_.seed, 0.02f, (float)opt_.head_init_scale);
        if (opt_.init.empty()) return;
        SafetensorsReader f = open_weights(opt_.init);
        const std::string prefix = f.has("encoder.downsample_layers.0.0.weight") ? "encoder." : "";
        ModelConfig ic = read_config(f, prefix, cfg_.num_classes);
        for (int s = 0; s < kStages; s++)
            if (ic.depths[s] != cfg_.depths[s] || ic.dims[s] != cfg_.dims[s])
                fail("%s: holds a %s model but --model is %s", opt_.init.c_str(), ic.name.c_str(), cfg_.name.c_str());
        if (ic.in_chans != cfg_.in_chans || ic.stem_stride != cfg_.stem_stride)
            fail("%s: stem takes %d channels with stride %d, but this run needs %d channels with stride %d",
                 opt_.init.c_str(), ic.in_chans, ic.stem_stride, cfg_.in_chans, cfg_.stem_stride);
        LoadReport rep = load_params(f, L, params, prefix, LoadMode::Backbone);
        reinit_head(params, L, opt_.seed, 2e-5f);
        if (!opt_.quiet)
            std::fprintf(stderr, "init: %d tensors from %s%s; head re-initialised (std 2e-5), layer decay %g\n",
                         rep.loaded, opt_.init.c_str(), prefix.empty() ? "" : " (the encoder of a pre-training checkpoint)",
                         opt_.layer_decay);
    }

    double train_step(Weights params, float* grads, float* images, const int32_t* labels, int64_t step,
                      int64_t* correct) override {
        const int64_t K = cfg_.num_classes, S = cfg_.input_size;
        if (mix_.enabled())  // each rank mixes its own slice, as timm under DDP
            mix_batch(images, labels, targets_.data(), opt_.batch, (int)S, cfg_.in_chans, K, mix_,
                      stream_key(opt_.seed, kRngMixup, (uint64_t)step, (uint64_t)first_sample_));
        const float* z = net_.forward(params, images, (float)opt_.drop_path, stream_key(opt_.seed, kRngDropPath, (uint64_t)step));
        const double loss = mix_.enabled() ? soft_cross_entropy(net_.dlogits(), z, targets_.data(), opt_.batch, K)
                                           : cross_entropy(net_.dlogits(), z, labels, opt_.batch, K, (float)opt_.smoothing);
        if (!std::isfinite(loss)) return loss;
        *correct += count_topk_correct(z, labels, opt_.batch, K, 1);
        net_.backward(params, grads, net_.dlogits());
        return loss;
    }

    EpochReport evaluate(const float* params, const float* ema, int64_t) override {
        EpochReport r;
        EvalResult ev = cnx::evaluate(eval_net_, params, data_.test, eval_t_);
        r.metrics.set("test_loss", ev.loss).set("test_acc", ev.top1).set("test_top5", ev.top5);
        r.summary = strfmt("test loss %.4f acc %.2f%% top-5 %.2f%%", ev.loss, 100 * ev.top1, 100 * ev.top5);
        r.score = ev.top1;
        r.test_acc = ev.top1;
        r.test_top5 = ev.top5;
        r.test_loss = ev.loss;
        if (ema) {
            EvalResult em = cnx::evaluate(eval_net_, ema, data_.test, eval_t_);
            r.metrics.set("ema_test_loss", em.loss).set("ema_test_acc", em.top1).set("ema_test_top5", em.top5);
            r.summary += strfmt(" | EMA acc %.2f%%", 100 * em.top1);
            if (em.top1 > ev.top1) {
                r.ema_better = true;
                r.score = em.top1;
            }
        }
        return r;
    }

private:
    ConvNeXtV2 net_;
    ConvNeXtV2 eval_net_;
    MixupOptions mix_;
    std::vector<float> targets_;  // [batch][classes] soft targets of a mixed batch
    int64_t first_sample_ = 0;
};

}  // namespace

std::unique_ptr<Task> make_supervised_task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data,
                                           const Transform& eval_t) {
    return std::unique_ptr<Task>(new SupervisedTask(cfg, opt, data, eval_t));
}

}  // namespace cnx
