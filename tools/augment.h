// Input pipeline: image -> normalised NHWC floats for the model, as torchvision/timm on PIL images:
// 8-bit geometry (tools/resample.h, Pillow's arithmetic), RandAugment on 8 bits, then normalisation
// (x/255 - mean[c]) / std[c] and random erasing.
//   small images (IDX, CIFAR, synthetic): resize to the input size if needed, then for training a
//     random crop with zero padding and a horizontal flip;
//   image folders: training uses random-resized-crop (scale min_scale..1, ratio 3/4..4/3) + flip;
//     evaluation and predict resize the shorter side to input/crop_pct and take the centre crop
//     (inputs of 384 and more: a plain resize to the input size, as the official code).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "convnextv2/config.h"
#include "core/rng.h"
#include "tools/dataset.h"
#include "tools/image.h"
#include "tools/randaugment.h"
#include "tools/resample.h"

namespace cnx {

// Random erasing's fill (timm RandomErasing modes): a normal value per pixel and channel, one per
// channel, or zeros.
enum class EraseMode { Pixel, Rand, Const };
EraseMode parse_erase_mode(const std::string& name);  // "pixel", "rand", "const"; throws otherwise

// timm's RandomErasing (count 1) on a normalised image [S][S][C]: with probability p, up to 10
// attempts to draw a box of area uniform in [0.02, 1/3] of the image and log aspect ratio uniform in
// [log 0.3, log 1/0.3], h = round(sqrt(area * ratio)), w = round(sqrt(area / ratio)); the first that
// fits (h < S, w < S) is placed uniformly and filled. Returns whether it erased.
bool random_erase(float* img, int S, int C, float p, EraseMode mode, Rng& rng);

struct Transform {
    int size = 32;      // model input side
    int channels = 1;
    std::vector<float> mean, std;
    bool train = false;
    bool small_images = true;
    int pad = 4;        // random-crop padding (small images)
    bool hflip = true;
    float min_scale = 0.08f;  // random-resized-crop area range (folders)
    float crop_pct = 0.875f;  // evaluation centre crop (folders)
    Interpolation interpolation = Interpolation::Bicubic;
    std::optional<RandAugmentPolicy> aa;  // RandAugment (training only)
    float erase_prob = 0.0f;  // random erasing, after normalisation (training only)
    EraseMode erase_mode = EraseMode::Pixel;
};

// Checkpoint metadata: how training evaluated images (crop_pct, interpolation), which eval and
// predict take as their defaults.
constexpr const char* kEvalCropPctKey = "convnextv2.eval_crop_pct";
constexpr const char* kEvalInterpolationKey = "convnextv2.eval_interpolation";

// Turns on RandAugment with a timm config string, filling its geometry with the mean colour (timm's
// img_mean) and resampling with t.interpolation.
void set_rand_augment(Transform& t, const std::string& config);

// The evaluation transform of a model (its input size, channels and normalisation).
Transform eval_transform(const ModelConfig& cfg, bool small_images);

// Writes one transformed image into dst [size][size][channels]. rng is used only when training.
void apply_transform(float* dst, const Image& img, const Transform& t, Rng& rng);

// Builds a batch of the samples `indices` (B of them) into images [B][S][S][C] and labels. Sample i's
// randomness comes from stream (key, indices[i]), so a batch is the same however many threads run.
void make_batch(float* images, int32_t* labels, const Dataset& d, const int64_t* indices, int64_t B,
                const Transform& t, uint64_t key);

// The buffers of a batch of B samples under transform t, allocated once: images, labels and the
// sample indices that fill() reads when it is given none.
struct Batch {
    Batch(int64_t B, const Transform& t)
        : transform(t), images((size_t)B * t.size * t.size * t.channels), labels((size_t)B), idx((size_t)B) {}
    int64_t size() const { return (int64_t)labels.size(); }
    void fill(const Dataset& d, uint64_t key, const int64_t* indices = nullptr) {
        make_batch(images.data(), labels.data(), d, indices ? indices : idx.data(), size(), transform, key);
    }
    Transform transform;
    std::vector<float> images;
    std::vector<int32_t> labels;
    std::vector<int64_t> idx;
};

}  // namespace cnx
