// 8-bit images (HWC) and their I/O: PNG and JPEG decoding (libpng, libjpeg), PNG writing, and
// bilinear resizing to float.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnx {

struct Image {
    int h = 0, w = 0, c = 0;       // c: 1 (gray) or 3 (RGB)
    std::vector<uint8_t> pixels;   // [h][w][c]
};

// Decodes a PNG or JPEG file (by content, not extension) to `channels` (1 or 3) channels.
// Throws cnx::Error("<path>: ...") on unreadable or corrupt files.
Image read_image(const std::string& path, int channels);

// Writes an 8-bit PNG (atomic).
void write_png(const std::string& path, const Image& img);

// Bilinear resampling (half-pixel centres, as PyTorch's align_corners=False without antialias) of a
// region of `src` (x0, y0, cw, ch: crop box in source pixels, may be fractional) to an out_h x out_w
// float image [out_h][out_w][c], values scaled by 1/255. Pixels outside the source are clamped.
void resize_bilinear(float* dst, int out_h, int out_w, const Image& src, float y0, float x0, float ch, float cw);

}  // namespace cnx
