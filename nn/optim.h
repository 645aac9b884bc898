// AdamW over a flat parameter buffer (gradients, m and v share its layout), with per-group learning
// rate scale (layer-wise decay) and weight decay; warmup + half-cycle cosine schedule; weight EMA.
#pragma once

#include <cstdint>
#include <vector>

#include "simd/bf16/bf16.h"

namespace cnx {

struct ParamGroup {
    int64_t offset = 0, count = 0;  // a range of the flat buffer
    double lr_scale = 1.0;
    double weight_decay = 0.0;
};

struct AdamWConfig {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW {
public:
    void init(const std::vector<ParamGroup>& groups, const AdamWConfig& cfg);
    // One update with learning rate lr; `step` counts from 1. With params16 (bf16 precision), the
    // same pass refreshes the bf16 copy of the updated parameters.
    void update(float* params, float* m, float* v, const float* grads, double lr, int64_t step,
                bf16* params16 = nullptr) const;

private:
    struct Chunk {
        int64_t offset, count;
        double lr_scale, weight_decay;
    };
    std::vector<Chunk> chunks_;
    AdamWConfig cfg_;
};

// Learning rate at fractional epoch e (epoch + iter/iters_per_epoch): linear warmup from 0 over
// `warmup` epochs, then min_lr + (base - min_lr) * 0.5 * (1 + cos(pi * (e - warmup) / (epochs - warmup))).
double lr_at(double e, double base_lr, double min_lr, double warmup, double epochs);

// ema = decay * ema + (1 - decay) * params (timm ModelEma).
void ema_update(float* ema, const float* params, int64_t n, float decay);

}  // namespace cnx
