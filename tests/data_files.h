// Input files of each format for the tests: IDX (plain and gzip), JPEG, and the program run as a
// user runs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "tools/image.h"

namespace cnx {
namespace test {

std::string be32(uint32_t v);  // big-endian, as IDX and PNG store integers
std::string idx_image_header(uint32_t n, uint32_t h, uint32_t w);
std::string idx_label_header(uint32_t n);
// n images of h x w with pixel i = i * 7 mod 256; n labels cycling through `classes`.
std::string idx_images(uint32_t n, uint32_t h, uint32_t w);
std::string idx_labels(uint32_t n, int classes);
// Writes `data` as one gzip member (mode "wb0": stored, not compressed), then `zeros` more zero bytes
// in 1 MB pieces, so the test never holds them. Returns the path.
std::string write_gz(const std::string& path, const std::string& data, size_t zeros = 0, const char* mode = "wb");

struct JpegOptions {
    int quality = 90;
    bool progressive = false;           // libjpeg's standard progressive script
    std::vector<jpeg_scan_info> scans;  // a scan script of one's own; empty: the above
    size_t metadata_bytes = 0;          // APP1 segments before the frame header
};
std::string encode_jpeg(const Image& img, const JpegOptions& options = {});
// An h x w image of c channels of pseudo-random bytes (the same every call): it barely compresses,
// so a compressed file of it is mostly image data.
Image noise_image(int h, int w, int c);

// build/convnextv2 run with `args`: its exit status and its stdout and stderr together.
struct Run {
    int status;
    std::string out;
};
Run cli(const std::string& args);

}  // namespace test
}  // namespace cnx
