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

// Row t of the targets: lam * smoothed one-hot(yi) + (1 - lam) * smoothed one-hot(yj).
static void write_target(float* t, int32_t yi, int32_t yj, double lam, double smoothing, int64_t K) {
    const double off = smoothing / (double)K, on = 1 - smoothing + off;
    for (int64_t k = 0; k < K; k++) t[k] = (float)off;
    t[yi] = (float)(on * lam + off * (1 - lam));
    t[yj] += (float)((on - off) * (1 - lam));
}

void mix_batch(float* images, const int32_t* labels, float* targets, int64_t B, int S, int C, int64_t K,
               const MixupOptions& o, uint64_t key) {
    CNX_CHECK(B % 2 == 0, "Mixup/CutMix needs an even batch");
    const size_t per = (size_t)S * S * C;
    const MixDraw whole = o.mode == MixupMode::Batch ? draw_mix(o, S, key) : MixDraw{};
    auto draw_for = [&](int64_t i) {
        if (o.mode == MixupMode::Elem) return draw_mix(o, S, stream_key(key, (uint64_t)i));
        if (o.mode == MixupMode::Pair) return draw_mix(o, S, stream_key(key, (uint64_t)std::min(i, B - 1 - i)));
        return whole;
    };
    std::vector<float> original_i;  // one image: i's pixels before mixing, which j mixes in
    for (int64_t i = 0; i < B / 2; i++) {
        const int64_t j = B - 1 - i;
        const MixDraw di = draw_for(i), dj = draw_for(j);
        float* xi = images + per * (size_t)i;
        float* xj = images + per * (size_t)j;
        if (dj.lam != 1) original_i.assign(xi, xi + per);
        mix_image(xi, xj, di, S, C);
        if (dj.lam != 1) mix_image(xj, original_i.data(), dj, S, C);
        write_target(targets + i * K, labels[i], labels[j], di.lam, o.smoothing, K);
        write_target(targets + j * K, labels[j], labels[i], dj.lam, o.smoothing, K);
    }
}

}  // namespace cnx
