#include "tools/augment.h"

#include <cmath>
#include <exception>
#include <mutex>

#include "core/check.h"
#include "nn/parallel.h"

namespace cnx {

// Normalises an 8-bit [S][S][C] image into dst.
static void normalise(float* dst, const Image& img, const Transform& t) {
    const size_t C = (size_t)t.channels;
    for (size_t i = 0; i < img.pixels.size(); i++)
        dst[i] = (img.pixels[i] * (1.0f / 255.0f) - t.mean[i % C]) / t.std[i % C];
}

// img shifted by (dy, dx) with zero padding (the random crop of a padded image), optionally mirrored.
static Image shift_flip(const Image& img, int dy, int dx, bool flip) {
    Image out = img;
    const int S = img.h, C = img.c;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            const int sy = y + dy, sx = (flip ? S - 1 - x : x) + dx;
            const bool inside = sy >= 0 && sy < S && sx >= 0 && sx < S;
            for (int c = 0; c < C; c++)
                out.pixels[((size_t)y * S + x) * C + c] = inside ? img.pixels[((size_t)sy * S + sx) * C + c] : 0;
        }
    return out;
}

// torchvision RandomResizedCrop.get_params: a box of random area and aspect ratio, else the centre.
static void random_resized_box(const Image& img, float min_scale, Rng& rng, int& top, int& left, int& h, int& w) {
    const double area = (double)img.h * img.w;
    const double lr0 = std::log(3.0 / 4.0), lr1 = std::log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (min_scale + (1.0 - min_scale) * rng.uniform_double());
        double ratio = std::exp(lr0 + (lr1 - lr0) * rng.uniform_double());
        w = (int)std::lround(std::sqrt(target * ratio));
        h = (int)std::lround(std::sqrt(target / ratio));
        if (w > 0 && h > 0 && w <= img.w && h <= img.h) {
            top = (int)rng.below((uint64_t)(img.h - h + 1));
            left = (int)rng.below((uint64_t)(img.w - w + 1));
            return;
        }
    }
    const double in_ratio = (double)img.w / img.h;
    w = img.w;
    h = img.h;
    if (in_ratio < 3.0 / 4.0) {
        h = (int)std::lround(w / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
        w = (int)std::lround(h * (4.0 / 3.0));
    }
    top = (img.h - h) / 2;
    left = (img.w - w) / 2;
}

// torchvision Resize(int(S / crop_pct)) (the shorter side) and CenterCrop(S); from 384 on, the
// official code resizes to S x S without a crop.
static Image resize_centre_crop(const Image& img, const Transform& t) {
    const int S = t.size;
    if (S >= 384) return resize_image(img, S, S, t.interpolation);
    const int side = (int)(S / t.crop_pct);
    const bool tall = img.w <= img.h;
    const int w = tall ? side : (int)((double)side * img.w / img.h), h = tall ? (int)((double)side * img.h / img.w) : side;
    const Image scaled = resize_image(img, w, h, t.interpolation);
    // Python's round(): halves to even
    return crop_image(scaled, (int)std::nearbyint((w - S) / 2.0), (int)std::nearbyint((h - S) / 2.0), S, S);
}

Transform eval_transform(const ModelConfig& cfg, bool small_images) {
    Transform t;
    t.size = cfg.input_size;
    t.channels = cfg.in_chans;
    t.mean = cfg.mean;
    t.std = cfg.std;
    t.small_images = small_images;
    return t;
}

void set_rand_augment(Transform& t, const std::string& config) {
    uint8_t fill[3];
    rand_augment_fill(t.mean, fill);
    t.aa = parse_rand_augment(config, fill, t.interpolation);
}

void apply_transform(float* dst, const Image& img, const Transform& t, Rng& rng) {
    CNX_CHECK(img.c == t.channels, "image channels differ from the transform's");
    const int S = t.size, C = t.channels;
    Image x;
    if (t.small_images) {
        x = img.h == S && img.w == S ? img : resize_image(img, S, S, t.interpolation);
        if (t.train) {
            int dy = 0, dx = 0;
            if (t.pad > 0) {
                dy = (int)rng.below((uint64_t)(2 * t.pad + 1)) - t.pad;
                dx = (int)rng.below((uint64_t)(2 * t.pad + 1)) - t.pad;
            }
            const bool flip = t.hflip && rng.uniform() < 0.5f;
            if (dy || dx || flip) x = shift_flip(x, dy, dx, flip);
        }
    } else if (t.train) {
        int top, left, h, w;
        random_resized_box(img, t.min_scale, rng, top, left, h, w);
        x = resize_image(crop_image(img, left, top, w, h), S, S, t.interpolation);
        if (t.hflip && rng.uniform() < 0.5f) x = shift_flip(x, 0, 0, true);
    } else {
        x = resize_centre_crop(img, t);
    }
    if (t.train && t.aa) rand_augment(x, *t.aa, rng);
    normalise(dst, x, t);
    if (t.train && t.erase_prob > 0) random_erase(dst, S, C, t.erase_prob, t.erase_mode, rng);
}

EraseMode parse_erase_mode(const std::string& name) {
    if (name == "pixel") return EraseMode::Pixel;
    if (name == "rand") return EraseMode::Rand;
    if (name == "const") return EraseMode::Const;
    fail("--remode must be pixel, rand or const (got '%s')", name.c_str());
}

bool random_erase(float* img, int S, int C, float p, EraseMode mode, Rng& rng) {
    if (rng.uniform() >= p) return false;
    const double area = (double)S * S, lo = std::log(0.3), hi = std::log(1 / 0.3);
    for (int attempt = 0; attempt < 10; attempt++) {
        const double target = area * (0.02 + (1.0 / 3 - 0.02) * rng.uniform());
        const double ratio = std::exp(lo + (hi - lo) * rng.uniform());
        const int h = (int)std::lround(std::sqrt(target * ratio)), w = (int)std::lround(std::sqrt(target / ratio));
        if (h >= S || w >= S) continue;
        const int top = (int)rng.below((uint64_t)(S - h + 1)), left = (int)rng.below((uint64_t)(S - w + 1));
        std::vector<float> per_channel((size_t)C, 0.0f);
        if (mode == EraseMode::Rand)
            for (float& v : per_channel) v = (float)rng.normal();
        for (int y = top; y < top + h; y++)
            for (int x = left; x < left + w; x++)
                for (int c = 0; c < C; c++)
                    img[((size_t)y * S + x) * C + c] = mode == EraseMode::Pixel ? (float)rng.normal() : per_channel[(size_t)c];
        return true;
    }
    return false;
}

void make_batch(float* images, int32_t* labels, const Dataset& d, const int64_t* indices, int64_t B,
                const Transform& t, uint64_t key) {
    const size_t per = (size_t)t.size * t.size * t.channels;
    std::mutex mu;
    std::exception_ptr error;
    parallel_for(B, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            try {
                const int64_t idx = indices[i];
                Rng rng(stream_key(key, (uint64_t)idx));
                apply_transform(images + per * (size_t)i, d.image(idx), t, rng);
                labels[i] = d.labels[(size_t)idx];
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!error) error = std::current_exception();
            }
        }
    });
    if (error) std::rethrow_exception(error);
}

}  // namespace cnx
