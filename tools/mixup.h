// Mixup and CutMix as timm's Mixup (correct_lam=True, no cutmix_minmax), after normalisation and
// random erasing, on a batch of images [B][S][S][C]. Sample i is mixed with sample B-1-i:
//   mixup:  x_i = lam x_i + (1 - lam) x_{B-1-i}
//   cutmix: a box of side ~ S sqrt(1 - lam) centred uniformly (clipped to the image) is pasted from
//           x_{B-1-i}, and lam becomes the uncovered share of the image;
// lam ~ Beta(alpha, alpha) with the mixup or the cutmix alpha (the latter with probability
// switch_prob when both are on), and with probability 1 - prob the batch stays unmixed (lam = 1).
// Modes: batch (one lam and box for the whole batch), pair (one per pair i, B-1-i) and elem (one
// per sample). The targets are lam * y_i + (1 - lam) * y_{B-1-i} of label-smoothed one-hot vectors
// (on = 1 - eps + eps/K, off = eps/K), for soft-target cross-entropy.
//
// Data-parallel runs mix each rank's own slice, as timm does under DDP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnx {

enum class MixupMode { Batch, Pair, Elem };
MixupMode parse_mixup_mode(const std::string& name);  // "batch", "pair", "elem"; throws otherwise

struct MixupOptions {
    double mixup_alpha = 0, cutmix_alpha = 0;
    double prob = 1.0;         // chance that a batch (or pair, or sample) is mixed at all
    double switch_prob = 0.5;  // chance of CutMix when both are on
    MixupMode mode = MixupMode::Batch;
    double smoothing = 0;      // label smoothing of the targets
    bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

// One mixing decision: lam (for CutMix, corrected to the uncovered share), the Beta draw it came
// from, whether it is CutMix, and its box (rows y0..y1, columns x0..x1, half-open).
struct MixDraw {
    double lam = 1, beta = 1;
    bool cutmix = false;
    int y0 = 0, y1 = 0, x0 = 0, x1 = 0;
};

// Draws lam and the CutMix box for an S x S image from rng, as timm's _params_per_batch /
// _params_per_elem and cutmix_bbox_and_lam.
MixDraw draw_mix(const MixupOptions& o, int S, uint64_t key);

// Mixes images [B][S][S][C] in place and writes targets [B][K]. Batch mode draws from key; pair
// and elem modes draw pair or sample i from stream (key, i). B must be even.
void mix_batch(float* images, const int32_t* labels, float* targets, int64_t B, int S, int C, int64_t K,
               const MixupOptions& o, uint64_t key);

}  // namespace cnx
