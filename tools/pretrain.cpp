// The FCMAE pre-training task for the shared training loop (tools/train.cpp): a fresh random mask
// every step, the normalised-pixel loss, a held-out loss after each epoch, and a picture of what
// the model reconstructs (DIR/reconstructions-EPOCH.png).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "convnextv2/fcmae.h"
#include "core/check.h"
#include "core/dist.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "tools/image.h"
#include "tools/train.h"

namespace cnx {

namespace {

constexpr int64_t kEvalImages = 1024;  // held-out images scored after each epoch (fixed masks)
constexpr int64_t kPictureRows = 8;

// Mask key of held-out batch b: the same every epoch, so losses compare across epochs.
uint64_t eval_mask_key(uint64_t seed, int64_t b) { return stream_key(seed, kRngMask, 1ULL << 40, (uint64_t)b); }

class PretrainTask : public Task {
public:
    PretrainTask(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data, const Transform& eval_t)
        : Task(cfg, opt, data, eval_t),
          model_(cfg, opt.batch, opt.mask_ratio, true, model_options(opt, true).precision),
          eval_model_(cfg, std::min<int64_t>({opt.eval_batch, 64, data.test.size()}), opt.mask_ratio, false,
                      model_options(opt, false).precision) {}

    const ParamLayout& layout() const override { return model_.layout().all; }
    std::vector<ParamGroup> param_groups() const override {
        return fcmae_param_groups(model_.layout(), (float)opt_.weight_decay);
    }
    const char* gemm_impl() const override { return model_.encoder().gemm_impl(); }
    void set_data_parallel(int64_t first_sample, ConvNeXtV2::GradReady ready) override {
        model_.set_first_sample(first_sample);
        model_.set_grad_ready(std::move(ready));
    }

    // std 0.02 for every conv and linear weight and the mask token (not the official code's std 1.0
    // overrides: see README.md, FCMAE).
    void init_params(float* params) override { cnx::init_params(params, model_.layout().all, opt_.seed, 0.02f, 1.0f); }

    double train_step(Weights params, float* grads, float* images, const int32_t*, int64_t step, int64_t*) override {
        model_.draw_mask(stream_key(opt_.seed, kRngMask, (uint64_t)step));
        const double loss = model_.forward(params, images);
        if (std::isfinite(loss)) model_.backward(params, grads);
        return loss;
    }

    EpochReport evaluate(const float* params, const float* ema, int64_t epoch) override {
        EpochReport r;
        const double loss = held_out_loss(params, &r.picture, epoch);
        r.metrics.set("test_loss", loss);
        r.summary = strfmt("held-out loss %.4f", loss);
        r.score = -loss;
        r.test_loss = loss;
        if (ema) {
            const double el = held_out_loss(ema, nullptr, epoch);
            r.metrics.set("ema_test_loss", el);
            r.summary += strfmt(" | EMA %.4f", el);
            if (el < loss) {
                r.ema_better = true;
                r.score = -el;
            }
        }
        return r;
    }

private:
    Fcmae model_;
    Fcmae eval_model_;

    // picture: where to describe the reconstructions of the first batch (null: none drawn).
    double held_out_loss(const float* params, CurvesPicture* picture, int64_t epoch) {
        const Dataset& d = data_.test;
        const int64_t B = eval_model_.batch(), n = std::min(kEvalImages, d.size());
        Batch batch(B, eval_t_);
        const int64_t batches = std::max<int64_t>(1, n / B);  // whole batches only
        double sum = 0;
        // data-parallel: rank r takes batches r, r + N, ... (rank 0 the pictured first one)
        for (int64_t b = dist_rank(); b < batches; b += dist_size()) {
            for (int64_t i = 0; i < B; i++) batch.idx[(size_t)i] = (b * B + i) % d.size();
            batch.fill(d, 0);
            eval_model_.draw_mask(eval_mask_key(opt_.seed, b));
            sum += eval_model_.forward(params, batch.images.data());
            if (picture && b == 0) *picture = write_picture(batch.images.data(), epoch);
        }
        dist_sum(&sum, 1);
        return sum / (double)batches;
    }

    // Rows of (original | masked input | reconstruction) for the first held-out images.
    CurvesPicture write_picture(const float* images, int64_t epoch) {
        const int64_t S = cfg_.input_size, C = cfg_.in_chans, grid = eval_model_.grid(), patch = eval_model_.patch();
        const int64_t K = eval_model_.patch_values(), L = grid * grid;
        const int64_t rows = std::min(kPictureRows, eval_model_.batch());
        const int64_t up = std::max<int64_t>(1, 96 / S), cell = S * up, gap = 4;
        Image img;
        img.c = (int)C;
        img.w = (int)(3 * cell + 4 * gap);
        img.h = (int)(rows * cell + (rows + 1) * gap);
        img.pixels.assign((size_t)img.w * img.h * C, 255);
        const float* pred = eval_model_.prediction();
        const float* stats = eval_model_.patch_stats();
        const std::vector<uint8_t>& mask = eval_model_.mask();
        std::vector<float> recon((size_t)(S * S * C)), masked_in((size_t)(S * S * C));
        for (int64_t n = 0; n < rows; n++) {
            const float* x = images + n * S * S * C;
            std::copy(x, x + S * S * C, recon.begin());
            std::copy(x, x + S * S * C, masked_in.begin());
            for (int64_t l = 0; l < L; l++) {
                const int64_t r = n * L + l;
                if (!mask[(size_t)r]) continue;
                const int64_t py = l / grid, px = l % grid;
                const float mean = stats[2 * r], sd = stats[2 * r + 1];
                const float* pr = pred + r * K;
                for (int64_t p = 0; p < patch; p++)
                    for (int64_t q = 0; q < patch * C; q++) {
                        const size_t o = (size_t)(((py * patch + p) * S + px * patch) * C + q);
                        recon[o] = pr[p * patch * C + q] * sd + mean;
                        masked_in[o] = (0.5f - cfg_.mean[(size_t)(q % C)]) / cfg_.std[(size_t)(q % C)];  // grey
                    }
            }
            const float* panels[3] = {x, masked_in.data(), recon.data()};
            for (int k = 0; k < 3; k++) {
                const int64_t ox = gap + k * (cell + gap), oy = gap + n * (cell + gap);
                for (int64_t y = 0; y < cell; y++)
                    for (int64_t xx = 0; xx < cell; xx++)
                        for (int64_t c = 0; c < C; c++) {
                            const float v = panels[k][((y / up) * S + xx / up) * C + c] * cfg_.std[(size_t)c] + cfg_.mean[(size_t)c];
                            img.pixels[(size_t)(((oy + y) * img.w + ox + xx) * C + c)] =
                                (uint8_t)std::lround(255.0f * std::min(1.0f, std::max(0.0f, v)));
                        }
            }
        }
        const std::string file = "reconstructions-" + std::to_string(epoch + 1) + ".png";
        write_png(path_join(opt_.out, file), img);
        return CurvesPicture{file, strfmt("epoch %lld: original | masked | reconstruction", (long long)(epoch + 1)), img.w, img.h};
    }
};

}  // namespace

std::unique_ptr<Task> make_pretrain_task(const ModelConfig& cfg, const TrainOptions& opt, const DataSplits& data,
                                         const Transform& eval_t) {
    return std::unique_ptr<Task>(new PretrainTask(cfg, opt, data, eval_t));
}

}  // namespace cnx
