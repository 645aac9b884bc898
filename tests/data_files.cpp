#include "tests/data_files.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>

#include "core/check.h"
#include "core/fileio.h"
#include "tests/util.h"

namespace cnx {
namespace test {

std::string be32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; i++) s[(size_t)i] = (char)((v >> (24 - 8 * i)) & 0xff);
    return s;
}

std::string idx_image_header(uint32_t n, uint32_t h, uint32_t w) { return be32(0x803) + be32(n) + be32(h) + be32(w); }
std::string idx_label_header(uint32_t n) { return be32(0x801) + be32(n); }

std::string idx_images(uint32_t n, uint32_t h, uint32_t w) {
    std::string s = idx_image_header(n, h, w);
    for (uint32_t i = 0; i < n * h * w; i++) s += (char)(i * 7 % 256);
    return s;
}

std::string idx_labels(uint32_t n, int classes) {
    std::string s = idx_label_header(n);
    for (uint32_t i = 0; i < n; i++) s += (char)(i % (uint32_t)classes);
    return s;
}

std::string write_gz(const std::string& path, const std::string& data, size_t zeros, const char* mode) {
    gzFile f = gzopen(path.c_str(), mode);
    CNX_CHECK(f != nullptr, "cannot create the gzip file");
    CNX_CHECK(gzwrite(f, data.data(), (unsigned)data.size()) == (int)data.size(), "gzwrite failed");
    const std::string piece(1 << 20, '\0');
    for (size_t left = zeros; left > 0;) {
        const size_t n = std::min(left, piece.size());
        CNX_CHECK(gzwrite(f, piece.data(), (unsigned)n) == (int)n, "gzwrite failed");
        left -= n;
    }
    CNX_CHECK(gzclose(f) == Z_OK, "gzclose failed");
    return path;
}

std::string encode_jpeg(const Image& img, const JpegOptions& options) {
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* out = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &out, &size);
    c.image_width = (JDIMENSION)img.w;
    c.image_height = (JDIMENSION)img.h;
    c.input_components = img.c;
    c.in_color_space = img.c == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, options.quality, TRUE);
    if (options.progressive) jpeg_simple_progression(&c);
    if (!options.scans.empty()) {
        c.scan_info = options.scans.data();
        c.num_scans = (int)options.scans.size();
    }
    jpeg_start_compress(&c, TRUE);
    const std::vector<JOCTET> metadata(60000, 'm');
    for (size_t left = options.metadata_bytes; left > 0;) {
        const size_t n = std::min(left, metadata.size());
        jpeg_write_marker(&c, JPEG_APP0 + 1, metadata.data(), (unsigned)n);
        left -= n;
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<uint8_t*>(img.pixels.data()) + (size_t)c.next_scanline * img.w * img.c;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::string bytes(reinterpret_cast<char*>(out), size);
    std::free(out);
    return bytes;
}

Image noise_image(int h, int w, int c) {
    Image img;
    img.h = h;
    img.w = w;
    img.c = c;
    uint32_t state = 12345;
    img.pixels.resize((size_t)h * w * c);
    for (uint8_t& p : img.pixels) {
        state = state * 1664525u + 1013904223u;
        p = (uint8_t)(state >> 24);
    }
    return img;
}

Run cli(const std::string& args) {
    const std::string bin = binary_path("convnextv2");
    CNX_CHECK(file_exists(bin), "build the program first (make all)");
    Run r;
    r.status = run_command(bin + " " + args, &r.out);
    return r;
}

}  // namespace test
}  // namespace cnx
