// Hostile and broken image files: decompression bombs (headers that declare huge images), truncated
// files, progressive JPEGs with endless scans, and the in-memory and header-only entry points.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <zlib.h>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"
#include "tests/data_files.h"
#include "tests/util.h"
#include "tools/image.h"

using namespace cnx;
using test::be32;
using test::encode_jpeg;
using test::JpegOptions;
using test::noise_image;

namespace {

// Sets input_limits().max_image_pixels for as long as it lives.
class PixelLimit {
public:
    explicit PixelLimit(int64_t pixels) : saved_(input_limits().max_image_pixels) {
        input_limits().max_image_pixels = pixels;
    }
    ~PixelLimit() { input_limits().max_image_pixels = saved_; }
    PixelLimit(const PixelLimit&) = delete;
    PixelLimit& operator=(const PixelLimit&) = delete;

private:
    int64_t saved_;
};

// Sends what is written to stderr into a file for as long as it lives.
class StderrCapture {
public:
    StderrCapture() : path_(path_join(test::temp_dir("stderr"), "stderr.txt")) {
        std::fflush(stderr);
        saved_fd_ = dup(2);
        const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(fd >= 0);
        dup2(fd, 2);
        close(fd);
    }
    ~StderrCapture() {
        std::fflush(stderr);
        dup2(saved_fd_, 2);
        close(saved_fd_);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    std::string text() const {
        std::fflush(stderr);
        return read_file(path_);
    }

private:
    std::string path_;
    int saved_fd_ = -1;
};

int count_of(const std::string& text, const std::string& part) {
    int n = 0;
    for (size_t p = text.find(part); p != std::string::npos; p = text.find(part, p + 1)) n++;
    return n;
}


std::string encode_png(const Image& img) {
    const std::string path = path_join(test::temp_dir("png"), "image.png");
    write_png(path, img);
    return read_file(path);
}

// Offset of the first marker `code` (0xff, code) among the segments before the image data.
size_t find_jpeg_marker(const std::string& jpeg, unsigned char code) {
    size_t p = 2;  // after SOI
    while (p + 4 <= jpeg.size() && (unsigned char)jpeg[p] == 0xff) {
        if ((unsigned char)jpeg[p + 1] == code) return p;
        p += 2 + ((size_t)(unsigned char)jpeg[p + 2] << 8 | (unsigned char)jpeg[p + 3]);
    }
    FAIL("no JPEG marker ", (int)code);
    return 0;
}

void put_be16(std::string& s, size_t at, unsigned v) {
    s[at] = (char)(v >> 8);
    s[at + 1] = (char)(v & 0xff);
}


std::string png_chunk(const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), (uInt)body.size());
    return be32((uint32_t)data.size()) + body + be32((uint32_t)crc);
}

// A small, well-formed PNG (valid CRCs) whose header declares an 8-bit RGB width x height image.
std::string png_declaring(uint32_t width, uint32_t height) {
    std::string rows(600, '\0');
    uLongf size = compressBound((uLong)rows.size());
    std::string idat(size, '\0');
    REQUIRE(compress(reinterpret_cast<Bytef*>(&idat[0]), &size, reinterpret_cast<const Bytef*>(rows.data()),
                     (uLong)rows.size()) == Z_OK);
    idat.resize(size);
    const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
    return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) + png_chunk("IEND", "");
}

long peak_rss_kb() {
    rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

std::string decode_error(const std::string& bytes, const std::string& name) {
    try {
        decode_image(bytes, name, 3);
    } catch (const Error& e) {
        return e.what();
    }
    return "(decoded)";
}

}  // namespace

TEST_CASE("image limits: a header declaring more pixels than the limit is refused before decoding") {
    std::string bomb_jpeg = encode_jpeg(noise_image(16, 16, 3));
    const size_t sof = find_jpeg_marker(bomb_jpeg, 0xc0);
    put_be16(bomb_jpeg, sof + 5, 65500);  // height
    put_be16(bomb_jpeg, sof + 7, 65500);  // width
    const std::string limit_text = "65500x65500 image (4290250000 pixels) is over the limit of 178956970 pixels, a guard "
                                   "against decompression bombs (raise it with --max-image-pixels)";
    REQUIRE(input_limits().max_image_pixels == 178956970);
    CHECK(decode_error(bomb_jpeg, "bomb.jpg") == "bomb.jpg: " + limit_text);
    CHECK_THROWS_WITH_AS(decode_image_header(bomb_jpeg, "bomb.jpg"), ("bomb.jpg: " + limit_text).c_str(), Error);
    const std::string dir = test::temp_dir("bomb");
    const std::string bomb_path = path_join(dir, "bomb.jpg");
    write_file_atomic(bomb_path, bomb_jpeg);
    CHECK_THROWS_WITH_AS(read_image(bomb_path, 3), (bomb_path + ": " + limit_text).c_str(), Error);

    // libpng itself accepts 100000x100000; refusing it must come before the pixel buffer is allocated.
    const std::string bomb_png = png_declaring(100000, 100000);
    const long rss_before_kb = peak_rss_kb();
    CHECK_THROWS_WITH_AS(decode_image(bomb_png, "bomb.png", 3),
                         doctest::Contains("bomb.png: 100000x100000 image (10000000000 pixels) is over the limit"), Error);
    CHECK(peak_rss_kb() - rss_before_kb < 200 * 1024);

    // The limit is process-wide: lowering it refuses small images, raising it lets them through.
    const std::string png = encode_png(noise_image(15, 16, 3));
    {
        PixelLimit limit(16 * 15 - 1);
        CHECK(decode_error(png, "small.png").find("small.png: 16x15 image (240 pixels) is over the limit of 239 pixels") == 0);
        CHECK_THROWS_WITH_AS(decode_image(encode_jpeg(noise_image(15, 16, 3)), "small.jpg", 3),
                             doctest::Contains("16x15 image (240 pixels) is over the limit of 239 pixels"), Error);
    }
    {
        PixelLimit limit(2 * 16 * 15);  // no more than half of it: no warning either
        CHECK(decode_image(png, "small.png", 3).pixels == noise_image(15, 16, 3).pixels);
    }
    CHECK(input_limits().max_image_pixels == 178956970);

    // Above half of the limit: one warning line per file name, however often it is decoded.
    PixelLimit limit(2 * 16 * 15 - 1);
    StderrCapture captured;
    decode_image(png, "warned.png", 1);
    decode_image_header(png, "warned.png");
    decode_image(png, "warned-too.png", 3);
    {
        PixelLimit loose(2 * 16 * 15);  // exactly half: no warning
        decode_image(png, "not-warned.png", 3);
    }
    const std::string err = captured.text();
    CHECK(count_of(err, "warning: warned.png: 16x15 image (240 pixels), over half the limit of 479 pixels") == 1);
    CHECK(count_of(err, "warning: warned-too.png: ") == 1);
    CHECK(count_of(err, "not-warned.png") == 0);
    CHECK(count_of(err, "\n") == 2);
}

TEST_CASE("image limits: truncated JPEG and PNG files are errors, not grey-padded images") {
    const Image img = noise_image(96, 96, 3);
    const std::string messages[] = {"truncated JPEG (the data ends before the image does)",
                                    "corrupt PNG (truncated: the data ends before the image does)"};
    for (bool progressive : {false, true}) {
        JpegOptions options;
        options.progressive = progressive;
        const std::string jpeg = encode_jpeg(img, options);
        REQUIRE(find_jpeg_marker(jpeg, 0xda) < jpeg.size() / 2);  // the cut falls in the image data
        CHECK(decode_error(jpeg.substr(0, jpeg.size() / 2), "cut.jpg") == "cut.jpg: " + messages[0]);
        CHECK(decode_error(jpeg.substr(0, 100), "cut.jpg") == "cut.jpg: " + messages[0]);  // inside the header
    }
    const std::string png = encode_png(img);
    CHECK(decode_error(png.substr(0, png.size() / 2), "cut.png") == "cut.png: " + messages[1]);
    CHECK(decode_error(png.substr(0, 30), "cut.png") == "cut.png: " + messages[1]);

    const std::string path = path_join(test::temp_dir("truncated"), "half.jpg");
    const std::string jpeg = encode_jpeg(img);
    write_file_atomic(path, jpeg.substr(0, jpeg.size() / 2));
    CHECK_THROWS_WITH_AS(read_image(path, 3), (path + ": " + messages[0]).c_str(), Error);

    // Other corruption the decoder works around stays silent: stray bytes before a marker.
    std::string stray = jpeg;
    stray.insert(find_jpeg_marker(jpeg, 0xda), "xy");
    CHECK(decode_image(stray, "stray.jpg", 3).pixels == decode_image(jpeg, "whole.jpg", 3).pixels);
}

TEST_CASE("image limits: the JPEG decoder's work is bounded (scan limit, memory bound)") {
    // A valid progressive script of 64 coefficients x 11 successive-approximation passes: 704 scans,
    // each a pass over every coefficient of the image. Hostile files repeat scans to the same end.
    JpegOptions endless;
    for (int k = 0; k < 64; k++) {
        endless.scans.push_back({1, {0}, k, k, 0, 10});
        for (int al = 9; al >= 0; al--) endless.scans.push_back({1, {0}, k, k, al + 1, al});
    }
    const std::string many_scans = encode_jpeg(noise_image(8, 8, 1), endless);
    CHECK(decode_error(many_scans, "scans.jpg") ==
          "scans.jpg: JPEG with more than 500 scans, a guard against hostile progressive files");

    // Progressive files keep all coefficients in memory, under the bound derived from the size.
    JpegOptions progressive;
    progressive.progressive = true;
    for (const Image& img : {noise_image(8, 8, 1), noise_image(1, 300, 3), noise_image(300, 1, 3), noise_image(150, 200, 3)}) {
        const Image decoded = decode_image(encode_jpeg(img, progressive), "progressive.jpg", 3);
        CHECK(decoded.h == img.h);
        CHECK(decoded.w == img.w);
    }
}

TEST_CASE("image limits: in-memory decoding and header-only reads") {
    const std::string dir = test::temp_dir("header");
    const Image img = noise_image(40, 50, 3);
    const std::string jpeg = encode_jpeg(img), png = encode_png(img);
    for (const std::string* bytes : {&jpeg, &png}) {
        const std::string path = path_join(dir, bytes == &jpeg ? "a.jpg" : "a.png");
        write_file_atomic(path, *bytes);
        for (int channels : {1, 3}) {
            const Image from_file = read_image(path, channels), in_memory = decode_image(*bytes, "a", channels);
            CHECK(in_memory.c == channels);
            CHECK(in_memory.pixels == from_file.pixels);
        }
        const ImageHeader header = decode_image_header(*bytes, "a");
        CHECK(header.width == 50);
        CHECK(header.height == 40);
        CHECK(std::string(header.format) == (bytes == &jpeg ? "JPEG" : "PNG"));
        const ImageHeader from_file = read_image_header(path);
        CHECK(from_file.width == 50);
        CHECK(std::string(from_file.format) == header.format);
    }
    CHECK(decode_image(png, "a", 3).pixels == img.pixels);
    CHECK_THROWS_WITH_AS(decode_image_header("hello", "x.txt"), "x.txt: not a PNG or JPEG file", Error);
    CHECK_THROWS_WITH_AS(decode_image_header(png.substr(0, 20), "cut.png"),
                         "cut.png: corrupt PNG (truncated: the data ends before the image does)", Error);
    {
        PixelLimit limit(40 * 50 - 1);
        CHECK_THROWS_WITH_AS(decode_image_header(jpeg, "a.jpg"), doctest::Contains("a.jpg: 50x40 image (2000 pixels) is over"),
                             Error);
        CHECK_THROWS_WITH_AS(read_image_header(path_join(dir, "a.png")), doctest::Contains("a.png: 50x40 image"), Error);
    }

    // Only the header is read: the rest of a truncated file does not matter.
    write_file_atomic(path_join(dir, "half.jpg"), jpeg.substr(0, jpeg.size() / 2));
    CHECK(read_image_header(path_join(dir, "half.jpg")).height == 40);
    // A header behind more metadata than the first read covers is found in the whole file.
    JpegOptions metadata;
    metadata.metadata_bytes = 400000;
    write_file_atomic(path_join(dir, "metadata.jpg"), encode_jpeg(img, metadata));
    CHECK(read_image_header(path_join(dir, "metadata.jpg")).width == 50);
    const size_t after_ihdr = 8 + 25;
    const std::string png_metadata = png.substr(0, after_ihdr) + png_chunk("prVt", std::string(400000, 'm')) + png.substr(after_ihdr);
    write_file_atomic(path_join(dir, "metadata.png"), png_metadata);
    CHECK(read_image_header(path_join(dir, "metadata.png")).width == 50);
    CHECK(decode_image(png_metadata, "metadata.png", 3).pixels == img.pixels);
    write_file_atomic(path_join(dir, "cut-metadata.jpg"), encode_jpeg(img, metadata).substr(0, 300000));
    CHECK_THROWS_WITH_AS(read_image_header(path_join(dir, "cut-metadata.jpg")), doctest::Contains("truncated JPEG"), Error);
    CHECK_THROWS_WITH_AS(read_image_header(path_join(dir, "missing.png")), doctest::Contains("missing.png: cannot open"), Error);
}
