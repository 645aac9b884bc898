#include "tools/randaugment.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/check.h"

namespace cnx {

namespace {

struct OpInfo {
    RandOp op;
    const char* name;
};

const OpInfo kOps[] = {
    {RandOp::AutoContrast, "AutoContrast"},
    {RandOp::Equalize, "Equalize"},
    {RandOp::Invert, "Invert"},
    {RandOp::Rotate, "Rotate"},
    {RandOp::Posterize, "Posterize"},
    {RandOp::PosterizeIncreasing, "PosterizeIncreasing"},
    {RandOp::Solarize, "Solarize"},
    {RandOp::SolarizeIncreasing, "SolarizeIncreasing"},
    {RandOp::SolarizeAdd, "SolarizeAdd"},
    {RandOp::Color, "Color"},
    {RandOp::ColorIncreasing, "ColorIncreasing"},
    {RandOp::Contrast, "Contrast"},
    {RandOp::ContrastIncreasing, "ContrastIncreasing"},
    {RandOp::Brightness, "Brightness"},
    {RandOp::BrightnessIncreasing, "BrightnessIncreasing"},
    {RandOp::Sharpness, "Sharpness"},
    {RandOp::SharpnessIncreasing, "SharpnessIncreasing"},
    {RandOp::ShearX, "ShearX"},
    {RandOp::ShearY, "ShearY"},
    {RandOp::TranslateXRel, "TranslateXRel"},
    {RandOp::TranslateYRel, "TranslateYRel"},
};

// ---- config string -----------------------------------------------------------------------------

constexpr int kMaxRandAugmentLayers = 100;

// Python int() of a section's value (timm's split hands over everything from the first digit on).
int parse_int(const std::string& config, const std::string& section, const std::string& val) {
    bool digits = std::all_of(val.begin(), val.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    errno = 0;
    long v = std::strtol(val.c_str(), nullptr, 10);
    if (val.empty() || !digits || errno || v > INT_MAX) {
        fail("RandAugment '%s': section '%s' needs an integer", config.c_str(), section.c_str());
    }
    return (int)v;
}

// Python float() of a decimal number (no hex, inf or nan).
double parse_float(const std::string& config, const std::string& section, const std::string& val) {
    const char* s = val.c_str();
    char* end = nullptr;
    double v = std::strtod(s, &end);
    bool hex = val.find_first_of("xX") != std::string::npos;
    if (val.empty() || hex || *end != '\0' || !std::isfinite(v)) {
        fail("RandAugment '%s': section '%s' needs a number", config.c_str(), section.c_str());
    }
    return v;
}

std::vector<std::string> split_dashes(const std::string& s) {
    std::vector<std::string> parts(1);
    for (char ch : s) {
        if (ch == '-') {
            parts.emplace_back();
        } else {
            parts.back() += ch;
        }
    }
    return parts;
}

// One '-' section of the config, as timm's rand_augment_transform reads it.
void parse_section(RandAugmentPolicy& p, const std::string& config, const std::string& c, bool& have_std, bool& have_max) {
    if (!c.empty() && c[0] == 't') {
        fail("RandAugment '%s': op sets ('%s') are not supported, only the default lists", config.c_str(), c.c_str());
    }
    // timm: key, val = re.split(r'(\d.*)', c)[:2]; a section without a digit is skipped silently.
    size_t d = c.find_first_of("0123456789");
    if (d == std::string::npos) return;
    const std::string key = c.substr(0, d), val = c.substr(d);
    if (key == "mstd") {
        double v = parse_float(config, c, val);
        if (v > 100) v = std::numeric_limits<double>::infinity();  // timm: uniform sampling
        if (!have_std) p.magnitude_std = v;  // hparams.setdefault: the first one wins
        have_std = true;
    } else if (key == "mmax") {
        int v = parse_int(config, c, val);
        if (!have_max) p.magnitude_max = v;  // setdefault again; 0 later reads as 10
        have_max = true;
    } else if (key == "inc") {
        p.increasing = true;  // timm tests bool(val) on the string: "inc0" turns it on too
    } else if (key == "m") {
        p.magnitude = parse_int(config, c, val);
    } else if (key == "n") {
        p.num_layers = parse_int(config, c, val);
        if (p.num_layers > kMaxRandAugmentLayers)  // a hostile string must not stall every image
            fail("RandAugment '%s': %d ops per image is more than the %d allowed", config.c_str(), p.num_layers, kMaxRandAugmentLayers);
    } else if (key == "p") {
        p.prob = parse_float(config, c, val);
    } else if (key == "w") {
        fail("RandAugment '%s': weighted op choice ('%s') is not supported", config.c_str(), c.c_str());
    } else {
        fail("RandAugment '%s': unknown section '%s' (known: m, n, p, mstd, mmax, inc)", config.c_str(), c.c_str());
    }
}

// ---- lookup-table ops (ImageOps; Image.point clips table entries to 8 bits) -------------------

// Histogram per channel, channel-major like Image.histogram(): [c][256].
std::vector<int64_t> histogram(const Image& img) {
    std::vector<int64_t> h((size_t)256 * img.c, 0);
    for (size_t i = 0; i < img.pixels.size(); i++) h[(i % img.c) * 256 + img.pixels[i]]++;
    return h;
}

// lut [c][256] (or [256] for every channel).
void apply_lut(Image& img, const std::vector<int>& lut) {
    const bool shared = lut.size() == 256;
    for (size_t i = 0; i < img.pixels.size(); i++) {
        int v = lut[(shared ? 0 : (i % img.c) * 256) + img.pixels[i]];
        img.pixels[i] = (uint8_t)std::min(255, std::max(0, v));
    }
}

void autocontrast(Image& img) {
    const std::vector<int64_t> hist = histogram(img);
    std::vector<int> lut;
    for (int b = 0; b < img.c; b++) {
        const int64_t* h = &hist[(size_t)b * 256];
        int lo = 0, hi = 255;
        while (lo < 255 && !h[lo]) lo++;
        while (hi > 0 && !h[hi]) hi--;
        const double scale = hi > lo ? 255.0 / (hi - lo) : 1.0, offset = -lo * scale;
        for (int ix = 0; ix < 256; ix++) {
            lut.push_back(hi <= lo ? ix : std::min(255, std::max(0, (int)(ix * scale + offset))));
        }
    }
    apply_lut(img, lut);
}

void equalize(Image& img) {
    const std::vector<int64_t> hist = histogram(img);
    std::vector<int> lut;
    for (int b = 0; b < img.c; b++) {
        const int64_t* h = &hist[(size_t)b * 256];
        int64_t total = 0, last = 0, used = 0;
        for (int i = 0; i < 256; i++) {
            if (h[i]) used++, last = h[i];
            total += h[i];
        }
        // step from the pixels outside the highest used bin; entries above 255 get clipped.
        int64_t step = used <= 1 ? 0 : (total - last) / 255;
        int64_t n = step / 2;
        for (int i = 0; i < 256; i++) {
            lut.push_back(step ? (int)(n / step) : i);
            n += h[i];
        }
    }
    apply_lut(img, lut);
}

void point(Image& img, int (*f)(int, double), double arg) {
    std::vector<int> lut(256);
    for (int i = 0; i < 256; i++) lut[i] = f(i, arg);
    apply_lut(img, lut);
}

int invert_value(int i, double) { return 255 - i; }
int solarize_value(int i, double thresh) { return i < thresh ? i : 255 - i; }
int solarize_add_value(int i, double add) { return i < 128 ? (int)std::min(255.0, i + add) : i; }

// timm's posterize returns the image for bits >= 8; ImageOps' mask clears all bits for bits <= 0.
int posterize_value(int i, double bits) {
    int keep = bits <= 0 ? 0 : (int)bits;
    return i & (0xFF << (8 - keep)) & 0xFF;
}

// ---- ImageEnhance: Image.blend(degenerate, image, factor) -------------------------------------

// ImagingBlend: alpha in float, in1 + alpha * (in2 - in1) in float, truncated. Clipping only bites
// when extrapolating (alpha outside [0, 1]), so one loop serves both of Pillow's branches.
void blend(Image& img, const std::vector<uint8_t>& degenerate, double factor) {
    const float a = (float)factor;
    if (a == 0.0f) {
        img.pixels = degenerate;
        return;
    }
    if (a == 1.0f) return;
    for (size_t i = 0; i < img.pixels.size(); i++) {
        int d = degenerate[i];
        float t = (float)d + a * (float)((int)img.pixels[i] - d);
        img.pixels[i] = t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
    }
}

// Convert RGB -> L: ITU-R 601-2 in 16-bit fixed point (Pillow's L24), one value per pixel.
std::vector<uint8_t> luma(const Image& img) {
    if (img.c == 1) return img.pixels;
    std::vector<uint8_t> l(img.pixels.size() / 3);
    for (size_t i = 0; i < l.size(); i++) {
        const uint8_t* p = &img.pixels[i * 3];
        l[i] = (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
    return l;
}

// Each value repeated for every channel of img (convert("L").convert(mode)).
std::vector<uint8_t> spread(const std::vector<uint8_t>& gray, int c) {
    std::vector<uint8_t> out(gray.size() * c);
    for (size_t i = 0; i < out.size(); i++) out[i] = gray[i / c];
    return out;
}

// Contrast's degenerate: the mean of the L image, int(mean + 0.5), everywhere.
std::vector<uint8_t> mean_gray(const Image& img) {
    const std::vector<uint8_t> l = luma(img);
    if (l.empty()) return {};
    int64_t h[256] = {0};
    for (uint8_t v : l) h[v]++;
    double sum = 0;
    for (int j = 0; j < 256; j++) sum += (double)j * h[j];  // ImageStat: float sum of the histogram
    int mean = (int)(sum / (double)l.size() + 0.5);
    return std::vector<uint8_t>(img.pixels.size(), (uint8_t)mean);
}

uint8_t clip8(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v; }

// ImageFilter.SMOOTH (3x3 [1 1 1; 1 5 1; 1 1 1] / 13) as ImagingFilter3x3: kernel divided in float,
// rows summed bottom to top with 0.5 for rounding; the border pixels are copied, and images under
// 3x3 are copied whole.
std::vector<uint8_t> smooth(const Image& img) {
    std::vector<uint8_t> out = img.pixels;
    if (img.w < 3 || img.h < 3) return out;
    const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
    const int C = img.c;
    auto px = [&](int y, int x, int ch) { return (float)img.pixels[((size_t)y * img.w + x) * C + ch]; };
    for (int y = 1; y < img.h - 1; y++) {
        for (int x = 1; x < img.w - 1; x++) {
            for (int ch = 0; ch < C; ch++) {
                float ss = 0.5f;
                ss += px(y + 1, x - 1, ch) * k1 + px(y + 1, x, ch) * k1 + px(y + 1, x + 1, ch) * k1;
                ss += px(y, x - 1, ch) * k1 + px(y, x, ch) * k5 + px(y, x + 1, ch) * k1;
                ss += px(y - 1, x - 1, ch) * k1 + px(y - 1, x, ch) * k1 + px(y - 1, x + 1, ch) * k1;
                out[((size_t)y * img.w + x) * C + ch] = clip8(ss);
            }
        }
    }
    return out;
}

// ---- geometric ops (Image.transform AFFINE / Image.rotate) ------------------------------------

void affine(Image& img, double a, double b, double c, double d, double e, double f, const uint8_t fill[3],
            Interpolation interp) {
    const double m[6] = {a, b, c, d, e, f};
    img = affine_image(img, m, interp, fill);
}

double draw_magnitude(const RandAugmentPolicy& p, Rng& rng) {
    double m = p.magnitude;
    if (p.magnitude_std > 0) {
        if (std::isinf(p.magnitude_std)) {
            m = m * rng.uniform_double();  // random.uniform(0, m)
        } else {
            m = m + p.magnitude_std * rng.normal();  // random.gauss(m, mstd)
        }
    }
    double upper = p.magnitude_max ? p.magnitude_max : 10.0;  // `magnitude_max or _LEVEL_DENOM`
    return std::max(0.0, std::min(m, upper));
}

}  // namespace

const char* rand_op_name(RandOp op) {
    for (const OpInfo& o : kOps) {
        if (o.op == op) return o.name;
    }
    return "?";
}

RandOp parse_rand_op(const std::string& name) {
    for (const OpInfo& o : kOps) {
        if (name == o.name) return o.op;
    }
    fail("unknown RandAugment op '%s'", name.c_str());
}

std::vector<RandOp> rand_augment_ops(bool increasing) {
    using R = RandOp;
    return {R::AutoContrast, R::Equalize, R::Invert, R::Rotate,
            increasing ? R::PosterizeIncreasing : R::Posterize,
            increasing ? R::SolarizeIncreasing : R::Solarize,
            R::SolarizeAdd,
            increasing ? R::ColorIncreasing : R::Color,
            increasing ? R::ContrastIncreasing : R::Contrast,
            increasing ? R::BrightnessIncreasing : R::Brightness,
            increasing ? R::SharpnessIncreasing : R::Sharpness,
            R::ShearX, R::ShearY, R::TranslateXRel, R::TranslateYRel};
}

RandAugmentPolicy parse_rand_augment(const std::string& config, const uint8_t fill[3], Interpolation f) {
    if (config.compare(0, 4, "rand") != 0) {
        fail("augmentation '%s': only RandAugment ('rand-...') is supported", config.c_str());
    }
    const std::vector<std::string> sections = split_dashes(config);
    if (sections[0] != "rand") fail("RandAugment '%s' must start with 'rand-'", config.c_str());
    RandAugmentPolicy p;
    bool have_std = false, have_max = false;
    for (size_t i = 1; i < sections.size(); i++) parse_section(p, config, sections[i], have_std, have_max);
    p.ops = rand_augment_ops(p.increasing);
    std::copy(fill, fill + 3, p.fill);
    p.interpolation = f;
    return p;
}

void rand_augment_fill(const std::vector<float>& mean, uint8_t fill[3]) {
    CNX_CHECK(mean.size() == 1 || mean.size() == 3, "mean needs 1 or 3 values");
    for (size_t c = 0; c < 3; c++) {
        double v = std::nearbyint(255.0 * (double)mean[mean.size() == 1 ? 0 : c]);  // half to even
        fill[c] = (uint8_t)std::min(255.0, std::max(0.0, v));
    }
}

bool rand_op_is_signed(RandOp op) {
    switch (op) {
    case RandOp::Rotate: case RandOp::ShearX: case RandOp::ShearY: case RandOp::TranslateXRel:
    case RandOp::TranslateYRel: case RandOp::ColorIncreasing: case RandOp::ContrastIncreasing:
    case RandOp::BrightnessIncreasing: case RandOp::SharpnessIncreasing:
        return true;
    default:
        return false;
    }
}

// timm's LEVEL_TO_ARG, with level = magnitude / 10 (int() truncations kept as std::trunc).
double rand_op_argument(RandOp op, double magnitude, bool negate) {
    const double level = magnitude / 10.0;
    const double sign = negate ? -1.0 : 1.0;
    switch (op) {
    case RandOp::Rotate: return sign * (level * 30.0);
    case RandOp::Posterize: return std::trunc(level * 4);
    case RandOp::PosterizeIncreasing: return 4 - std::trunc(level * 4);
    case RandOp::Solarize: return std::min(256.0, std::trunc(level * 256));
    case RandOp::SolarizeIncreasing: return 256 - std::min(256.0, std::trunc(level * 256));
    case RandOp::SolarizeAdd: return std::min(128.0, std::trunc(level * 110));
    case RandOp::Color: case RandOp::Contrast: case RandOp::Brightness: case RandOp::Sharpness:
        return level * 1.8 + 0.1;
    case RandOp::ColorIncreasing: case RandOp::ContrastIncreasing: case RandOp::BrightnessIncreasing:
    case RandOp::SharpnessIncreasing:
        return std::max(0.1, 1.0 + sign * (level * 0.9));  // keeps factor >= 0.1 when mmax > 10
    case RandOp::ShearX: case RandOp::ShearY: return sign * (level * 0.3);
    case RandOp::TranslateXRel: case RandOp::TranslateYRel: return sign * (level * 0.45);  // translate_pct
    default: return 0;  // AutoContrast, Equalize, Invert
    }
}

void apply_rand_op(Image& img, RandOp op, double arg, const uint8_t fill[3], Interpolation f) {
    const uint8_t gray_fill[3] = {fill[0], fill[0], fill[0]};
    const uint8_t* fc = img.c == 1 ? gray_fill : fill;
    switch (op) {
    case RandOp::AutoContrast: autocontrast(img); break;
    case RandOp::Equalize: equalize(img); break;
    case RandOp::Invert: point(img, invert_value, 0); break;
    case RandOp::Posterize: case RandOp::PosterizeIncreasing:
        if (arg < 8) point(img, posterize_value, arg);
        break;
    case RandOp::Solarize: case RandOp::SolarizeIncreasing: point(img, solarize_value, arg); break;
    case RandOp::SolarizeAdd: point(img, solarize_add_value, arg); break;
    case RandOp::Color: case RandOp::ColorIncreasing: blend(img, spread(luma(img), img.c), arg); break;
    case RandOp::Contrast: case RandOp::ContrastIncreasing: blend(img, mean_gray(img), arg); break;
    case RandOp::Brightness: case RandOp::BrightnessIncreasing:
        blend(img, std::vector<uint8_t>(img.pixels.size(), 0), arg);
        break;
    case RandOp::Sharpness: case RandOp::SharpnessIncreasing: blend(img, smooth(img), arg); break;
    case RandOp::Rotate: img = rotate_image(img, arg, f, fc); break;
    case RandOp::ShearX: affine(img, 1, arg, 0, 0, 1, 0, fc, f); break;
    case RandOp::ShearY: affine(img, 1, 0, 0, arg, 1, 0, fc, f); break;
    case RandOp::TranslateXRel: affine(img, 1, 0, arg * img.w, 0, 1, 0, fc, f); break;
    case RandOp::TranslateYRel: affine(img, 1, 0, 0, 0, 1, arg * img.h, fc, f); break;
    }
}

void rand_augment(Image& img, const RandAugmentPolicy& p, Rng& rng, std::vector<RandAugmentStep>* trace) {
    CNX_CHECK(!p.ops.empty() || p.num_layers <= 0, "RandAugment policy without ops");
    // np.random.choice(ops, num_layers, replace=True): all layers are drawn before any runs.
    std::vector<RandOp> chosen;
    for (int i = 0; i < p.num_layers; i++) chosen.push_back(p.ops[rng.below(p.ops.size())]);
    for (RandOp op : chosen) {
        RandAugmentStep s;
        s.op = op;
        s.applied = !(p.prob < 1.0 && rng.uniform_double() > p.prob);
        if (s.applied) {
            s.magnitude = draw_magnitude(p, rng);
            bool negate = rand_op_is_signed(op) && rng.uniform_double() > 0.5;  // _randomly_negate
            s.arg = rand_op_argument(op, s.magnitude, negate);
            apply_rand_op(img, op, s.arg, p.fill, p.interpolation);
        }
        if (trace) trace->push_back(s);
    }
}

}  // namespace cnx
