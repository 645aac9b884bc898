#include "nn/optim.h"

#include <cmath>

#include "nn/parallel.h"
#include "simd/kernels.h"

namespace cnx {

// Groups are cut into chunks so that threads balance across many small tensors.
static constexpr int64_t kOptChunk = 1 << 14;

void AdamW::init(const std::vector<ParamGroup>& groups, const AdamWConfig& cfg) {
    cfg_ = cfg;
    chunks_.clear();
    for (const ParamGroup& g : groups)
        for (int64_t o = 0; o < g.count; o += kOptChunk)
            chunks_.push_back(Chunk{g.offset + o, std::min(kOptChunk, g.count - o), g.lr_scale, g.weight_decay});
}

void AdamW::update(float* params, float* m, float* v, const float* grads, double lr, int64_t step, bf16* params16) const {
    const Kernels& k = kernels();
    parallel_for((int64_t)chunks_.size(), [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            const Chunk& c = chunks_[(size_t)i];
            const AdamWStep s = adamw_step(lr * c.lr_scale, c.weight_decay, cfg_.beta1, cfg_.beta2, cfg_.eps, step);
            if (params16)
                k.adamw_bf16(params + c.offset, params16 + c.offset, m + c.offset, v + c.offset, grads + c.offset, c.count, &s);
            else
                k.adamw(params + c.offset, m + c.offset, v + c.offset, grads + c.offset, c.count, &s);
        }
    });
}

double lr_at(double e, double base_lr, double min_lr, double warmup, double epochs) {
    if (e < warmup) return base_lr * e / warmup;
    if (epochs <= warmup) return base_lr;
    double t = (e - warmup) / (epochs - warmup);
    if (t > 1.0) t = 1.0;
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

void ema_update(float* ema, const float* params, int64_t n, float decay) {
    parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) ema[i] = ema[i] * decay + (1.0f - decay) * params[i];
    });
}

}  // namespace cnx
