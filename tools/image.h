// 8-bit images (HWC) and their I/O: PNG and JPEG decoding (libpng, libjpeg) and PNG writing
// (resampling: tools/resample.h).
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
// Throws cnx::Error("<path>: ...") on unreadable, corrupt or truncated files, and on images with more
// pixels than input_limits().max_image_pixels (checked on the header, before anything is allocated or
// decompressed; above half of it a warning is printed once per file name).
Image read_image(const std::string& path, int channels);

// The same for a file already in memory (fuzzing); `name` stands for the file in messages.
Image decode_image(const std::string& bytes, const std::string& name, int channels);

struct ImageHeader {
    int width = 0, height = 0;
    const char* format = "";  // "PNG" or "JPEG"
};

// Decodes only the header and applies the same pixel limit as decode_image (and its warning).
ImageHeader decode_image_header(const std::string& bytes, const std::string& name);

// decode_image_header on a file, reading only as much of it as the header needs.
ImageHeader read_image_header(const std::string& path);

// Writes an 8-bit PNG (atomic).
void write_png(const std::string& path, const Image& img);

}  // namespace cnx
