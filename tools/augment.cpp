#include "tools/augment.h"

#include <cmath>
#include <exception>
#include <mutex>

#include "core/check.h"
#include "nn/parallel.h"

namespace cnx {

// Normalises a [S][S][C] image in [0,1] into dst, shifted by (dy, dx) with zero padding and
// optionally mirrored.
static void place(float* dst, const float* src, const Transform& t, int dy, int dx, bool flip) {
    const int S = t.size, C = t.channels;
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            int sy = y + dy, sx = (flip ? S - 1 - x : x) + dx;
            bool inside = sy >= 0 && sy < S && sx >= 0 && sx < S;
            float* o = dst + ((size_t)y * S + x) * C;
            for (int c = 0; c < C; c++) {
                float v = inside ? src[((size_t)sy * S + sx) * C + c] : 0.0f;
                o[c] = (v - t.mean[(size_t)c]) / t.std[(size_t)c];
            }
        }
    }
}

// torchvision RandomResizedCrop.get_params: a box of random area and aspect ratio, else the centre.
static void random_resized_box(const Image& img, float min_scale, Rng& rng, float& y0, float& x0, float& h, float& w) {
    const double area = (double)img.h * img.w;
    const double lr0 = std::log(3.0 / 4.0), lr1 = std::log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (min_scale + (1.0 - min_scale) * rng.uniform_double());
        double ratio = std::exp(lr0 + (lr1 - lr0) * rng.uniform_double());
        int cw = (int)std::lround(std::sqrt(target * ratio));
        int ch = (int)std::lround(std::sqrt(target / ratio));
        if (cw > 0 && ch > 0 && cw <= img.w && ch <= img.h) {
            y0 = (float)rng.below((uint64_t)(img.h - ch + 1));
            x0 = (float)rng.below((uint64_t)(img.w - cw + 1));
            h = (float)ch;
            w = (float)cw;
            return;
        }
    }
    double in_ratio = (double)img.w / img.h;
    double cw = img.w, ch = img.h;
    if (in_ratio < 3.0 / 4.0) {
        ch = std::lround(cw / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
        cw = std::lround(ch * (4.0 / 3.0));
    }
    y0 = (float)((img.h - ch) / 2);
    x0 = (float)((img.w - cw) / 2);
    h = (float)ch;
    w = (float)cw;
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

void apply_transform(float* dst, const Image& img, const Transform& t, Rng& rng) {
    CNX_CHECK(img.c == t.channels, "image channels differ from the transform's");
    const int S = t.size, C = t.channels;
    std::vector<float> buf((size_t)S * S * C);
    if (t.small_images) {
        if (img.h == S && img.w == S) {
            for (size_t i = 0; i < buf.size(); i++) buf[i] = img.pixels[i] * (1.0f / 255.0f);
        } else {
            resize_bilinear(buf.data(), S, S, img, 0, 0, (float)img.h, (float)img.w);
        }
        int dy = 0, dx = 0;
        bool flip = false;
        if (t.train) {
            dy = (int)rng.below((uint64_t)(2 * t.pad + 1)) - t.pad;
            dx = (int)rng.below((uint64_t)(2 * t.pad + 1)) - t.pad;
            flip = t.hflip && rng.uniform() < 0.5f;
        }
        place(dst, buf.data(), t, dy, dx, flip);
        if (t.train && t.erase_prob > 0) random_erase(dst, S, C, t.erase_prob, t.erase_mode, rng);
        return;
    }
    float y0, x0, h, w;
    bool flip = false;
    if (t.train) {
        random_resized_box(img, t.min_scale, rng, y0, x0, h, w);
        flip = t.hflip && rng.uniform() < 0.5f;
    } else {  // shorter side to S, centre crop
        float side = (float)std::min(img.h, img.w);
        y0 = (img.h - side) / 2;
        x0 = (img.w - side) / 2;
        h = w = side;
    }
    resize_bilinear(buf.data(), S, S, img, y0, x0, h, w);
    place(dst, buf.data(), t, 0, 0, flip);
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
