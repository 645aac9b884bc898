// Pillow's resampling code (src/libImaging/Resample.c and Geometry.c, the same in substance from
// 9.4 to 13.0) transcribed for 8-bit L and RGB images. Results are bit-exact only if every floating
// point expression is evaluated as written: the order of operations follows Pillow's, and no
// multiply-add may be fused into an FMA (which -march flags would otherwise allow), hence the pragmas.
#include "tools/resample.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/check.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace cnx {

Interpolation parse_interpolation(const std::string& name) {
    if (name == "nearest") return Interpolation::Nearest;
    if (name == "bilinear") return Interpolation::Bilinear;
    if (name == "bicubic") return Interpolation::Bicubic;
    fail("interpolation must be nearest, bilinear or bicubic (got '%s')", name.c_str());
}

namespace {

// Geometry.c's COORD (nearest: anything left of 0 is outside) and FLOOR.
int coord(double v) { return v < 0.0 ? -1 : (int)v; }
int floor_int(double v) { return v < 0.0 ? (int)std::floor(v) : (int)v; }

void check_image(const Image& img) {
    CNX_CHECK(img.c == 1 || img.c == 3, "resample: images must have 1 or 3 channels");
    CNX_CHECK(img.pixels.size() == (size_t)img.h * img.w * img.c, "resample: pixel buffer size");
}

// An all-zero image.
Image blank(int w, int h, int c) {
    Image out;
    out.w = w;
    out.h = h;
    out.c = c;
    out.pixels.assign((size_t)h * w * c, 0);
    return out;
}

Image filled(int w, int h, int c, const uint8_t* fill) {
    Image out = blank(w, h, c);
    for (size_t i = 0; i < out.pixels.size(); i += (size_t)c)
        for (int k = 0; k < c; k++) out.pixels[i + (size_t)k] = fill[k];
    return out;
}

const uint8_t* pixel(const Image& img, int x, int y) { return &img.pixels[((size_t)y * img.w + x) * img.c]; }
uint8_t* pixel(Image& img, int x, int y) { return &img.pixels[((size_t)y * img.w + x) * img.c]; }

void copy_pixel(Image& out, int x, int y, const Image& in, int xi, int yi) {
    std::copy_n(pixel(in, xi, yi), in.c, pixel(out, x, y));
}

// ---- Image.resize with BILINEAR / BICUBIC (Resample.c) -------------------------------------------

constexpr int kPrecisionBits = 32 - 8 - 2;  // fixed-point coefficients; 2 bits of headroom for overshoot

double bilinear_weight(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic_weight(double x) {  // Keys' cubic with a = -0.5
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
    return 0.0;
}

// For each output pixel along one axis: the first input pixel, how many follow, and their weights.
struct Coeffs {
    int ksize = 0;
    std::vector<int> first, count;
    std::vector<int32_t> k;  // [out][ksize], scaled by 2^kPrecisionBits
};

// precompute_coeffs + normalize_coeffs_8bpc for the box (0, in_size): when shrinking the filter is
// stretched by the scale (antialiasing).
Coeffs precompute_coeffs(int in_size, int out_size, Interpolation f) {
    const bool cubic = f == Interpolation::Bicubic;
    const double scale = (double)in_size / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = (cubic ? 2.0 : 1.0) * filterscale;
    const double ss = 1.0 / filterscale;
    Coeffs c;
    c.ksize = (int)std::ceil(support) * 2 + 1;
    c.first.resize((size_t)out_size);
    c.count.resize((size_t)out_size);
    c.k.assign((size_t)out_size * c.ksize, 0);
    std::vector<double> w((size_t)c.ksize);
    for (int xx = 0; xx < out_size; xx++) {
        const double center = (xx + 0.5) * scale;
        const int xmin = std::max((int)(center - support + 0.5), 0);
        const int xmax = std::min((int)(center + support + 0.5), in_size) - xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            const double t = (x + xmin - center + 0.5) * ss;
            w[(size_t)x] = cubic ? bicubic_weight(t) : bilinear_weight(t);
            ww += w[(size_t)x];
        }
        int32_t* k = &c.k[(size_t)xx * c.ksize];
        for (int x = 0; x < xmax; x++) {
            const double v = ww != 0.0 ? w[(size_t)x] / ww : w[(size_t)x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << kPrecisionBits)) : (int32_t)(0.5 + v * (1 << kPrecisionBits));
        }
        c.first[(size_t)xx] = xmin;
        c.count[(size_t)xx] = xmax;
    }
    return c;
}

// Rounds (the accumulator starts at one half) and clips to 8 bits; >> floors negative sums.
uint8_t clip8(int32_t acc) { return (uint8_t)std::clamp(acc >> kPrecisionBits, 0, 255); }

// Rows [y0, y0 + out.h) of `in`, resampled horizontally.
void resample_horizontal(const Image& in, int y0, const Coeffs& cx, Image& out) {
    for (int y = 0; y < out.h; y++) {
        for (int x = 0; x < out.w; x++) {
            const int32_t* k = &cx.k[(size_t)x * cx.ksize];
            const uint8_t* row = pixel(in, cx.first[(size_t)x], y + y0);
            for (int ch = 0; ch < in.c; ch++) {
                int32_t acc = 1 << (kPrecisionBits - 1);
                for (int i = 0; i < cx.count[(size_t)x]; i++) acc += row[i * in.c + ch] * k[i];
                pixel(out, x, y)[ch] = clip8(acc);
            }
        }
    }
}

// Vertical pass; input row r stands for source row r + y0 (y0 > 0 after a horizontal pass that only
// produced the rows the vertical pass reads).
void resample_vertical(const Image& in, int y0, const Coeffs& cy, Image& out) {
    const size_t stride = (size_t)in.w * in.c;
    for (int y = 0; y < out.h; y++) {
        const int32_t* k = &cy.k[(size_t)y * cy.ksize];
        const uint8_t* col0 = pixel(in, 0, cy.first[(size_t)y] - y0);
        for (size_t i = 0; i < stride; i++) {
            int32_t acc = 1 << (kPrecisionBits - 1);
            for (int j = 0; j < cy.count[(size_t)y]; j++) acc += col0[(size_t)j * stride + i] * k[j];
            out.pixels[(size_t)y * stride + i] = clip8(acc);
        }
    }
}

// ImagingResampleInner: each pass only where that size changes, each rounded to 8 bits.
Image resample(const Image& src, int out_w, int out_h, Interpolation f) {
    const Coeffs cx = precompute_coeffs(src.w, out_w, f), cy = precompute_coeffs(src.h, out_h, f);
    if (out_w == src.w) {
        Image out = blank(src.w, out_h, src.c);
        resample_vertical(src, 0, cy, out);
        return out;
    }
    // Only the source rows the vertical pass will read.
    const int y0 = cy.first[0], y1 = cy.first[(size_t)out_h - 1] + cy.count[(size_t)out_h - 1];
    Image tmp = blank(out_w, y1 - y0, src.c);
    resample_horizontal(src, y0, cx, tmp);
    if (out_h == src.h) return tmp;
    Image out = blank(out_w, out_h, src.c);
    resample_vertical(tmp, y0, cy, out);
    return out;
}

// ---- nearest-neighbour affine maps (Geometry.c) --------------------------------------------------

// ImagingScaleAffine (no rotation or shear): positions accumulate by repeated addition.
void scale_affine(const Image& in, const double m[6], Image& out) {
    std::vector<int> xintab((size_t)out.w, 0);
    int xmin = out.w, xmax = 0;
    double xo = m[2] + m[0] * 0.5, yo = m[5] + m[4] * 0.5;
    for (int x = 0; x < out.w; x++) {
        const int xin = coord(xo);
        if (xin >= 0 && xin < in.w) {
            xmax = x + 1;
            xmin = std::min(xmin, x);
            xintab[(size_t)x] = xin;
        }
        xo += m[0];
    }
    for (int y = 0; y < out.h; y++) {
        const int yi = coord(yo);
        if (yi >= 0 && yi < in.h)
            for (int x = xmin; x < xmax; x++) copy_pixel(out, x, y, in, xintab[(size_t)x], yi);
        yo += m[4];
    }
}

// check_fixed: whether positions fit 16.16 fixed point.
bool fits_fixed(const double m[6], int x, int y) {
    return std::fabs(x * m[0] + y * m[1] + m[2]) < 32768.0 && std::fabs(x * m[3] + y * m[4] + m[5]) < 32768.0;
}

// affine_fixed: 16.16 fixed-point positions (so results can differ from exact arithmetic). 64-bit
// accumulators only to keep the unused step past the last pixel defined; used values fit 32 bits.
void affine_fixed(const Image& in, const double m[6], Image& out) {
    auto fix = [](double v) { return (int64_t)floor_int(v * 65536.0 + 0.5); };
    const int64_t a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4]);
    int64_t a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5), a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
    for (int y = 0; y < out.h; y++) {
        int64_t xx = a2, yy = a5;
        for (int x = 0; x < out.w; x++, xx += a0, yy += a3) {
            const int64_t xin = xx >> 16, yin = yy >> 16;
            if (xin >= 0 && xin < in.w && yin >= 0 && yin < in.h) copy_pixel(out, x, y, in, (int)xin, (int)yin);
        }
        a2 += a1;
        a5 += a4;
    }
}

// Floating-point fallback when positions are too large for fixed point.
void affine_float(const Image& in, const double m[6], Image& out) {
    double xo = m[2] + m[1] * 0.5 + m[0] * 0.5, yo = m[5] + m[4] * 0.5 + m[3] * 0.5;
    for (int y = 0; y < out.h; y++) {
        double xx = xo, yy = yo;
        for (int x = 0; x < out.w; x++, xx += m[0], yy += m[3]) {
            const int xin = coord(xx), yin = coord(yy);
            if (xin >= 0 && xin < in.w && yin >= 0 && yin < in.h) copy_pixel(out, x, y, in, xin, yin);
        }
        xo += m[1];
        yo += m[4];
    }
}

// ImagingTransformAffine with NEAREST.
void affine_nearest(const Image& in, const double m[6], Image& out) {
    if (m[1] == 0 && m[3] == 0) return scale_affine(in, m, out);
    const int w = out.w, h = out.h;
    if (fits_fixed(m, 0, 0) && fits_fixed(m, w, h) && fits_fixed(m, 0, h) && fits_fixed(m, w, 0))
        return affine_fixed(in, m, out);
    affine_float(in, m, out);
}

// ---- bilinear / bicubic affine maps (ImagingGenericTransform) ------------------------------------

int xclip(const Image& im, int x) { return x < 0 ? 0 : x < im.w ? x : im.w - 1; }
int yclip(const Image& im, int y) { return y < 0 ? 0 : y < im.h ? y : im.h - 1; }

double lerp(double a, double b, double d) { return a + (b - a) * d; }

// bilinear_filter8: x/y are the sample's top-left pixel; rows past the bottom repeat the row above.
void bilinear_sample(const Image& im, double xin, double yin, uint8_t* out) {
    xin -= 0.5;
    yin -= 0.5;
    const int x = floor_int(xin), y = floor_int(yin);
    const double dx = xin - x, dy = yin - y;
    const int x0 = xclip(im, x), x1 = xclip(im, x + 1);
    const bool has_y1 = y + 1 >= 0 && y + 1 < im.h;
    const uint8_t* r0 = pixel(im, 0, yclip(im, y));
    const uint8_t* r1 = has_y1 ? pixel(im, 0, y + 1) : nullptr;
    for (int ch = 0; ch < im.c; ch++) {
        const double v1 = lerp(r0[x0 * im.c + ch], r0[x1 * im.c + ch], dx);
        const double v2 = has_y1 ? lerp(r1[x0 * im.c + ch], r1[x1 * im.c + ch], dx) : v1;
        out[ch] = (uint8_t)lerp(v1, v2, dy);
    }
}

// Geometry.c's BICUBIC macro: the cubic convolution with a = -1 (not -0.5 as in resize).
double cubic(double v1, double v2, double v3, double v4, double d) {
    const double p1 = v2;
    const double p2 = -v1 + v3;
    const double p3 = 2 * (v1 - v2) + v3 - v4;
    const double p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
}

// bicubic_filter8: the first row is clipped, each later row past the edge repeats the one above.
void bicubic_sample(const Image& im, double xin, double yin, uint8_t* out) {
    xin -= 0.5;
    yin -= 0.5;
    const int x = floor_int(xin) - 1, y = floor_int(yin) - 1;
    const double dx = xin - (x + 1), dy = yin - (y + 1);
    const int xs[4] = {xclip(im, x), xclip(im, x + 1), xclip(im, x + 2), xclip(im, x + 3)};
    const uint8_t* rows[4];
    rows[0] = pixel(im, 0, yclip(im, y));
    for (int j = 1; j < 4; j++) rows[j] = y + j >= 0 && y + j < im.h ? pixel(im, 0, y + j) : rows[j - 1];
    for (int ch = 0; ch < im.c; ch++) {
        double v[4];
        for (int j = 0; j < 4; j++) {
            const uint8_t* r = rows[j];
            v[j] = cubic(r[xs[0] * im.c + ch], r[xs[1] * im.c + ch], r[xs[2] * im.c + ch], r[xs[3] * im.c + ch], dx);
        }
        const double s = cubic(v[0], v[1], v[2], v[3], dy);
        out[ch] = s <= 0.0 ? 0 : s >= 255.0 ? 255 : (uint8_t)s;
    }
}

// Pixels whose centre maps outside the input keep the fill colour.
void affine_interpolated(const Image& in, const double m[6], Interpolation f, Image& out) {
    for (int y = 0; y < out.h; y++) {
        for (int x = 0; x < out.w; x++) {
            const double xc = x + 0.5, yc = y + 0.5;
            const double xin = m[0] * xc + m[1] * yc + m[2], yin = m[3] * xc + m[4] * yc + m[5];
            if (xin < 0.0 || xin >= in.w || yin < 0.0 || yin >= in.h) continue;
            if (f == Interpolation::Bilinear)
                bilinear_sample(in, xin, yin, pixel(out, x, y));
            else
                bicubic_sample(in, xin, yin, pixel(out, x, y));
        }
    }
}

// ---- rotate ---------------------------------------------------------------------------------------

// Python's round(v, 15): correctly rounded to 15 decimals, as printf's %.15f and strtod are.
double round15(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15f", v);
    return std::strtod(buf, nullptr);
}

// Image.transpose ROTATE_90 / ROTATE_180 / ROTATE_270 (counter-clockwise) of a square or any image.
Image rotate_quarter(const Image& src, int quarters) {
    const bool swap = quarters % 2 != 0;
    Image out = blank(swap ? src.h : src.w, swap ? src.w : src.h, src.c);
    for (int y = 0; y < src.h; y++) {
        for (int x = 0; x < src.w; x++) {
            if (quarters == 1) copy_pixel(out, y, src.w - 1 - x, src, x, y);
            else if (quarters == 2) copy_pixel(out, src.w - 1 - x, src.h - 1 - y, src, x, y);
            else copy_pixel(out, src.h - 1 - y, x, src, x, y);
        }
    }
    return out;
}

}  // namespace

Image resize_image(const Image& src, int out_w, int out_h, Interpolation f) {
    check_image(src);
    if (out_w < 1 || out_h < 1) fail("resize: height and width must be > 0 (got %dx%d)", out_w, out_h);
    if (out_w == src.w && out_h == src.h) return src;
    if (f != Interpolation::Nearest) return resample(src, out_w, out_h, f);
    // Pillow maps NEAREST resizes to an affine scale of the whole image (no antialiasing).
    const double m[6] = {(double)src.w / out_w, 0, 0, 0, (double)src.h / out_h, 0};
    Image out = blank(out_w, out_h, src.c);
    scale_affine(src, m, out);
    return out;
}

Image crop_image(const Image& src, int left, int top, int width, int height) {
    check_image(src);
    if (width < 0 || height < 0) fail("crop: negative size %dx%d", width, height);
    Image out = blank(width, height, src.c);
    for (int y = std::max(0, -top); y < std::min(height, src.h - top); y++)
        for (int x = std::max(0, -left); x < std::min(width, src.w - left); x++)
            copy_pixel(out, x, y, src, x + left, y + top);
    return out;
}

Image affine_image(const Image& src, const double m[6], Interpolation f, const uint8_t fill[3]) {
    check_image(src);
    Image out = filled(src.w, src.h, src.c, fill);
    if (f == Interpolation::Nearest)
        affine_nearest(src, m, out);
    else
        affine_interpolated(src, m, f, out);
    return out;
}

Image rotate_image(const Image& src, double degrees, Interpolation f, const uint8_t fill[3]) {
    check_image(src);
    // Python's float modulo: the result takes the divisor's sign.
    double angle = std::fmod(degrees, 360.0);
    if (angle < 0.0) angle += 360.0;
    if (angle == 0.0) return src;
    if (angle == 180.0) return rotate_quarter(src, 2);
    if ((angle == 90.0 || angle == 270.0) && src.w == src.h) return rotate_quarter(src, angle == 90.0 ? 1 : 3);

    // The inverse map (output to input): rotation by -angle about the centre.
    const double a = -(angle * (M_PI / 180.0));
    const double c = round15(std::cos(a)), s = round15(std::sin(a)), ns = round15(-std::sin(a));
    const double cx = src.w / 2.0, cy = src.h / 2.0;
    double m[6] = {c, s, 0.0, ns, c, 0.0};
    m[2] = m[0] * -cx + m[1] * -cy + 0.0 + cx;
    m[5] = m[3] * -cx + m[4] * -cy + 0.0 + cy;
    return affine_image(src, m, f, fill);
}

}  // namespace cnx
