// RandAugment on 8-bit images, as timm's auto_augment.py (rand_augment_transform, AugmentOp,
// RandAugment) computes it on PIL images with Pillow 9.x, so that the ConvNeXt V2 fine-tuning recipe
// `--aa rand-m9-mstd0.5-inc1` means here what it means there:
//   - the config grammar: "rand" then '-'-separated keys m<int>, n<int>, p<float>, mstd<float>
//     (> 100: uniform magnitude), mmax<int>, inc<any digit>; see parse_rand_augment for the quirks;
//   - num_layers ops drawn uniformly with replacement from _RAND_TRANSFORMS (or
//     _RAND_INCREASING_TRANSFORMS with inc), each applied with probability p, its magnitude drawn
//     from gauss(m, mstd) (or uniform(0, m)) and clipped to [0, mmax or 10], turned into the op's
//     argument by timm's level functions (random sign for rotate/shear/translate/enhance-increasing);
//   - the op functions with Pillow's exact 8-bit results: ImageOps autocontrast, equalize, invert,
//     posterize, solarize (lookup tables, clipped to 8 bits), timm's solarize_add, ImageEnhance
//     Color, Contrast, Brightness, Sharpness (Image.blend in float, truncated; the SMOOTH filter;
//     RGB->L with Pillow's L24 weights), and rotate/shear/translate through tools/resample.h.
// Random numbers come from cnx::Rng (not Python's stream), with timm's probabilities and order.
// Gray images (c = 1) use fill[0] as their fill (timm's RGB fill tuple would fail in Pillow there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tools/image.h"
#include "tools/resample.h"

namespace cnx {

// timm's op names (NAME_TO_OP / LEVEL_TO_ARG keys) used by the two RandAugment lists.
enum class RandOp {
    AutoContrast, Equalize, Invert, Rotate,
    Posterize, PosterizeIncreasing, Solarize, SolarizeIncreasing, SolarizeAdd,
    Color, ColorIncreasing, Contrast, ContrastIncreasing,
    Brightness, BrightnessIncreasing, Sharpness, SharpnessIncreasing,
    ShearX, ShearY, TranslateXRel, TranslateYRel,
};
const char* rand_op_name(RandOp op);
RandOp parse_rand_op(const std::string& name);  // throws cnx::Error on an unknown name

// timm's _RAND_TRANSFORMS (increasing = false) or _RAND_INCREASING_TRANSFORMS, in timm's order.
std::vector<RandOp> rand_augment_ops(bool increasing);

struct RandAugmentPolicy {
    std::vector<RandOp> ops;       // the op list (15 ops)
    double magnitude = 10;         // m
    int num_layers = 2;            // n
    double prob = 0.5;             // p: each chosen op is applied with this probability
    double magnitude_std = 0;      // mstd: gauss noise when > 0, uniform(0, m) when infinite
    int magnitude_max = 0;         // mmax: upper clip; 0 means 10 (timm: `magnitude_max or 10`)
    bool increasing = false;       // inc
    uint8_t fill[3] = {128, 128, 128};                // timm hparams img_mean
    Interpolation interpolation = Interpolation::Bicubic;
};

// Parses a timm RandAugment string ("rand-m9-mstd0.5-inc1"); throws cnx::Error (one line) on
// anything else, on malformed numbers, and on the unsupported keys w / t (weighted op choice,
// other op sets).
RandAugmentPolicy parse_rand_augment(const std::string& config, const uint8_t fill[3], Interpolation f);

// timm's fill for RandAugment from the normalisation mean: min(255, round(255 * mean[c])) (round
// half to even, as Python); a single mean value fills all three.
void rand_augment_fill(const std::vector<float>& mean, uint8_t fill[3]);

// The argument timm's level function gives `op` at `magnitude` (already clipped); `negate` is the
// outcome of its random sign draw, used only by the signed ops. 0 for ops without an argument.
double rand_op_argument(RandOp op, double magnitude, bool negate);
bool rand_op_is_signed(RandOp op);

// Applies timm's op function with an explicit argument (bits, threshold, add, factor, degrees,
// shear factor or translate fraction of the width/height).
void apply_rand_op(Image& img, RandOp op, double arg, const uint8_t fill[3], Interpolation f);

// One layer of a RandAugment call, as drawn.
struct RandAugmentStep {
    RandOp op;
    bool applied = false;     // passed the probability draw
    double magnitude = 0;     // after noise and clipping (applied steps only)
    double arg = 0;           // the op's argument (applied steps only)
};

// timm RandAugment.__call__: num_layers ops drawn with replacement, each AugmentOp.__call__ in turn.
// When trace is given, the drawn steps are appended to it.
void rand_augment(Image& img, const RandAugmentPolicy& p, Rng& rng, std::vector<RandAugmentStep>* trace = nullptr);

}  // namespace cnx
