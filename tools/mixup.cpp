#include "tools/mixup.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/rng.h"

namespace cnx {

MixupMode parse_mixup_mode(const std::string& name) {
    if (name == "batch") return MixupMode::Batch;
    if (name == "pair") return MixupMode::Pair;
    if (name == "elem") return MixupMode::Elem;
    fail("--mixup-mode must be batch, pair or elem (got '%s')", name.c_str());
}

MixDraw draw_mix(const MixupOptions& o, int S, uint64_t key) {
    Rng rng(key);
    MixDraw d;
    if (!o.enabled() || rng.uniform_double() >= o.prob) return d;
    d.cutmix = o.mixup_alpha > 0 && o.cutmix_alpha > 0 ? rng.uniform_double() < o.switch_prob : o.cutmix_alpha > 0;
    const double alpha = d.cutmix ? o.cutmix_alpha : o.mixup_alpha;
    d.beta = d.lam = rng.beta(alpha, alpha);
    if (!d.cutmix) return d;
    // timm's rand_bbox: cut = int(S sqrt(1 - lam)), centre uniform, each side cut // 2, clipped
    const int cut = (int)(S * std::sqrt(1 - d.beta));
    const int cy = (int)rng.below((uint64_t)S), cx = (int)rng.below((uint64_t)S);
    d.y0 = std::clamp(cy - cut / 2, 0, S);
    d.y1 = std::clamp(cy + cut / 2, 0, S);
    d.x0 = std::clamp(cx - cut / 2, 0, S);
    d.x1 = std::clamp(cx + cut / 2, 0, S);
    d.lam = 1 - (double)(d.y1 - d.y0) * (d.x1 - d.x0) / ((double)S * S);
    return d;
}

// Mixes image a with b's original (b_orig) under draw d.
static void mix_image(float* a, const float* b_orig, const MixDraw& d, int S, int C) {
    if (d.lam == 1) return;
    if (d.cutmix) {
        for (int y = d.y0; y < d.y1; y++) {
            const size_t row = ((size_t)y * S + d.x0) * C;
            std::memcpy(a + row, b_orig + row, sizeof(float) * (size_t)(d.x1 - d.x0) * C);
        }
        return;
    }
    const float lam = (float)d.lam;
    for (size_t i = 0, n = (size_t)S * S * C; i < n; i++) a[i] = a[i] * lam + b_orig[i] * (1 - lam);
}

void mix_batch(float* images, const int32_t* labels, float* targets, int64_t B, int S, int C, int64_t K,
               const MixupOptions& o, uint64_t key) {
    CNX_CHECK(B % 2 == 0, "Mixup/CutMix needs an even batch");
    const size_t per = (size_t)S * S * C;
    const std::vector<float> orig(images, images + per * (size_t)B);
    std::vector<double> lam((size_t)B, 1.0);
    const MixDraw whole = o.mode == MixupMode::Batch ? draw_mix(o, S, key) : MixDraw{};
    for (int64_t i = 0; i < B; i++) {
        const int64_t j = B - 1 - i;
        MixDraw d = whole;
        if (o.mode == MixupMode::Elem) d = draw_mix(o, S, stream_key(key, (uint64_t)i));
        if (o.mode == MixupMode::Pair) d = draw_mix(o, S, stream_key(key, (uint64_t)std::min(i, j)));
        mix_image(images + per * (size_t)i, orig.data() + per * (size_t)j, d, S, C);
        lam[(size_t)i] = d.lam;
    }
    const double off = o.smoothing / (double)K, on = 1 - o.smoothing + off;
    for (int64_t i = 0; i < B; i++) {
        float* t = targets + i * K;
        const double l = lam[(size_t)i];
        for (int64_t k = 0; k < K; k++) t[k] = (float)off;
        t[labels[i]] = (float)(on * l + off * (1 - l));
        t[labels[B - 1 - i]] += (float)((on - off) * (1 - l));
    }
}

}  // namespace cnx
