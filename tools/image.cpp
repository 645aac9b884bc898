#include "tools/image.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"

namespace cnx {

static void to_channels(Image& img, int channels) {
    if (img.c == channels) return;
    std::vector<uint8_t> out((size_t)img.h * img.w * channels);
    const size_t n = (size_t)img.h * img.w;
    for (size_t i = 0; i < n; i++) {
        const uint8_t* p = &img.pixels[i * img.c];
        if (channels == 1) {  // ITU-R 601 luma, as PIL's convert("L")
            out[i] = (uint8_t)((p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000);
        } else {
            out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = p[0];
        }
    }
    img.pixels.swap(out);
    img.c = channels;
}

namespace {

const char* const kPng = "PNG";
const char* const kJpeg = "JPEG";

// The data ends before the image does. read_image_header catches it to retry with the whole file
// when it gave the decoder only the file's first bytes.
struct TruncatedImage : Error {
    using Error::Error;
};

// True the first time it is asked about `name` in this process (decoding runs on several threads).
bool first_warning_for(const std::string& name) {
    static std::mutex mutex;
    static std::unordered_set<std::string> warned;
    std::lock_guard<std::mutex> lock(mutex);
    return warned.insert(name).second;
}

// Refuses an image whose header declares more pixels than input_limits() allows, before anything
// is allocated for it or decompressed; above half of the limit warns once per name, as Pillow does.
void check_image_size(const std::string& name, int64_t width, int64_t height) {
    if (width <= 0 || height <= 0) fail("%s: empty image", name.c_str());
    const long long limit = (long long)input_limits().max_image_pixels;
    int64_t product = 0;
    const long long pixels = checked_mul(width, height, &product) ? (long long)product : INT64_MAX;
    if (pixels > limit)
        fail("%s: %lldx%lld image (%lld pixels) is over the limit of %lld pixels, a guard against decompression "
             "bombs (raise it with --max-image-pixels)",
             name.c_str(), (long long)width, (long long)height, pixels, limit);
    if (pixels > limit / 2 && first_warning_for(name))
        std::fprintf(stderr,
                     "warning: %s: %lldx%lld image (%lld pixels), over half the limit of %lld pixels against "
                     "decompression bombs (--max-image-pixels)\n",
                     name.c_str(), (long long)width, (long long)height, pixels, limit);
}

// The format by content, not by extension.
const char* image_format(const std::string& data, const std::string& name) {
    if (data.size() >= 8 && std::memcmp(data.data(), "\x89PNG\r\n\x1a\n", 8) == 0) return kPng;
    if (data.size() >= 3 && (unsigned char)data[0] == 0xff && (unsigned char)data[1] == 0xd8) return kJpeg;
    fail("%s: not a PNG or JPEG file", name.c_str());
}

// libpng's simplified API, whose reader keeps the library's default limits on what the chunks before
// the image data may make it allocate (1,000,000 pixels a side, 1,000 ancillary chunks, 8 MB a chunk:
// pnglibconf.h). The one allocation that grows with the image is the pixel buffer, ours, made after
// check_image_size; so the full API with png_set_user_limits would add nothing.
struct PngReader {
    png_image image;

    PngReader() {
        std::memset(&image, 0, sizeof image);
        image.version = PNG_IMAGE_VERSION;
    }
    ~PngReader() { png_image_free(&image); }
    PngReader(const PngReader&) = delete;
    PngReader& operator=(const PngReader&) = delete;

    // Reads the header (and the chunks up to the image data) and checks the image size.
    ImageHeader read_header(const std::string& data, const std::string& name) {
        if (!png_image_begin_read_from_memory(&image, data.data(), data.size())) fail_with_message(name);
        check_image_size(name, image.width, image.height);
        return ImageHeader{(int)image.width, (int)image.height, kPng};
    }

    [[noreturn]] void fail_with_message(const std::string& name) const {
        // What libpng's memory reader says when the data runs out (libpng then fails the read: no
        // partial image).
        if (std::strcmp(image.message, "read beyond end of data") == 0)
            throw TruncatedImage(strfmt("%s: corrupt PNG (truncated: the data ends before the image does)", name.c_str()));
        fail("%s: corrupt PNG (%s)", name.c_str(), image.message);
    }
};

Image decode_png(const std::string& data, const std::string& name) {
    PngReader png;
    png.read_header(data, name);
    png.image.format = PNG_FORMAT_RGB;
    Image img;
    img.h = (int)png.image.height;
    img.w = (int)png.image.width;
    img.c = 3;
    img.pixels.resize((size_t)img.h * img.w * 3);
    if (!png_image_finish_read(&png.image, nullptr, img.pixels.data(), 0, nullptr)) png.fail_with_message(name);
    return img;
}

// A progressive JPEG may repeat scans without end, each a pass over all of the image's coefficients;
// libjpeg-turbo's fuzzers and its TJPARAM_SCANLIMIT stop at this many.
constexpr int kMaxJpegScans = 500;

// A libjpeg decompressor reading from memory. libjpeg's errors, its warning that the data ended
// early (it would pad the image with grey) and the scan limit end in a longjmp to jpeg_call.
struct JpegReader {
    jpeg_decompress_struct cinfo;
    jpeg_error_mgr err;
    jpeg_progress_mgr progress;
    jmp_buf jump;
    bool truncated = false;
    char message[JMSG_LENGTH_MAX + 64] = "";

    JpegReader() {
        std::memset(&cinfo, 0, sizeof cinfo);  // so that the destructor is safe before jpeg_create_decompress
        std::memset(&progress, 0, sizeof progress);
        cinfo.err = jpeg_std_error(&err);
        err.error_exit = on_error;
        err.emit_message = on_message;
        cinfo.client_data = this;  // kept by jpeg_create_decompress
        progress.progress_monitor = on_progress;
    }
    ~JpegReader() { jpeg_destroy_decompress(&cinfo); }
    JpegReader(const JpegReader&) = delete;
    JpegReader& operator=(const JpegReader&) = delete;

    static JpegReader& of(j_common_ptr cinfo) { return *static_cast<JpegReader*>(cinfo->client_data); }

    static void on_error(j_common_ptr cinfo) {
        JpegReader& r = of(cinfo);
        char text[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, text);
        std::snprintf(r.message, sizeof r.message, "corrupt JPEG (%s)", text);
        std::longjmp(r.jump, 1);
    }
    // Warnings about data the decoder can work around (extraneous bytes, ...) stay silent.
    static void on_message(j_common_ptr cinfo, int level) {
        if (level >= 0) return;  // trace messages
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            of(cinfo).truncated = true;
            std::longjmp(of(cinfo).jump, 1);
        }
        cinfo->err->num_warnings++;
    }
    static void on_progress(j_common_ptr cinfo) {
        if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number <= kMaxJpegScans) return;
        JpegReader& r = of(cinfo);
        std::snprintf(r.message, sizeof r.message, "JPEG with more than %d scans, a guard against hostile progressive files",
                      kMaxJpegScans);
        std::longjmp(r.jump, 1);
    }
};

// setjmp's frame must outlive every libjpeg call that may longjmp to it and hold nothing that needs
// unwinding; this one holds only the call.
template <class Step>
bool jpeg_call(JpegReader& jpeg, Step& step) {
    if (setjmp(jpeg.jump)) return false;
    step();
    return true;
}

// Runs `step` (libjpeg calls; nothing in it may need unwinding) and throws what stopped libjpeg.
template <class Step>
void jpeg_run(JpegReader& jpeg, const std::string& name, Step step) {
    if (jpeg_call(jpeg, step)) return;
    if (jpeg.truncated) throw TruncatedImage(strfmt("%s: truncated JPEG (the data ends before the image does)", name.c_str()));
    fail("%s: %s", name.c_str(), jpeg.message);
}

// What libjpeg may allocate for a width x height image: coefficient buffers (progressive and other
// multi-scan files) for up to three full-resolution components, 128 bytes a block, padded to whole
// MCUs of up to 32x32 pixels, plus row buffers and tables. Without a backing store (jmemnobs),
// libjpeg refuses buffers beyond it rather than allocate them.
long jpeg_memory_bound(int64_t width, int64_t height) {
    return (long)(6 * (width + 32) * (height + 32) + 1024 * (width + height + 64) + (16 << 20));
}

// Reads the header and checks the image size; bounds libjpeg's memory to what that size needs.
ImageHeader read_jpeg_header(JpegReader& jpeg, const std::string& data, const std::string& name) {
    jpeg_run(jpeg, name, [&] {
        jpeg_create_decompress(&jpeg.cinfo);
        jpeg.cinfo.progress = &jpeg.progress;
        jpeg_mem_src(&jpeg.cinfo, reinterpret_cast<const unsigned char*>(data.data()), (unsigned long)data.size());
        jpeg_read_header(&jpeg.cinfo, TRUE);
    });
    const int width = (int)jpeg.cinfo.image_width, height = (int)jpeg.cinfo.image_height;
    check_image_size(name, width, height);
    jpeg.cinfo.mem->max_memory_to_use = jpeg_memory_bound(width, height);
    return ImageHeader{width, height, kJpeg};
}

Image decode_jpeg(const std::string& data, const std::string& name) {
    JpegReader jpeg;
    read_jpeg_header(jpeg, data, name);
    j_decompress_ptr cinfo = &jpeg.cinfo;
    cinfo->out_color_space = JCS_RGB;
    jpeg_run(jpeg, name, [&] { jpeg_start_decompress(cinfo); });
    Image img;
    img.h = (int)cinfo->output_height;
    img.w = (int)cinfo->output_width;
    img.c = 3;
    img.pixels.resize((size_t)img.h * img.w * 3);
    jpeg_run(jpeg, name, [&] {
        while (cinfo->output_scanline < cinfo->output_height) {
            JSAMPROW row = img.pixels.data() + (size_t)cinfo->output_scanline * img.w * 3;
            jpeg_read_scanlines(cinfo, &row, 1);
        }
        jpeg_finish_decompress(cinfo);
    });
    return img;
}

// Up to `max_bytes` of a file; *whole tells whether that is all of it.
std::string read_file_prefix(const std::string& path, size_t max_bytes, bool* whole) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        *whole = true;
        return read_file(path);  // which says why the file cannot be read
    }
    std::string data(max_bytes + 1, '\0');
    const size_t n = std::fread(&data[0], 1, data.size(), f);
    const bool error = std::ferror(f);
    std::fclose(f);
    if (error) fail("%s: read error", path.c_str());
    *whole = n <= max_bytes;
    data.resize(std::min(n, max_bytes));
    return data;
}

}  // namespace

Image decode_image(const std::string& bytes, const std::string& name, int channels) {
    Image img = image_format(bytes, name) == kPng ? decode_png(bytes, name) : decode_jpeg(bytes, name);
    to_channels(img, channels);
    return img;
}

Image read_image(const std::string& path, int channels) { return decode_image(read_file(path), path, channels); }

ImageHeader decode_image_header(const std::string& bytes, const std::string& name) {
    if (image_format(bytes, name) == kPng) return PngReader().read_header(bytes, name);
    JpegReader jpeg;
    return read_jpeg_header(jpeg, bytes, name);
}

ImageHeader read_image_header(const std::string& path) {
    // The header is in the first bytes of almost every file; a JPEG's may follow large metadata
    // segments (Exif thumbnails, ICC profiles), so a prefix that ends inside it is retried whole.
    constexpr size_t kPrefixBytes = 256 << 10;
    bool whole = false;
    const std::string prefix = read_file_prefix(path, kPrefixBytes, &whole);
    if (!whole) {
        try {
            return decode_image_header(prefix, path);
        } catch (const TruncatedImage&) {
        }
        return decode_image_header(read_file(path), path);
    }
    return decode_image_header(prefix, path);
}

void write_png(const std::string& path, const Image& img) {
    png_image pi;
    std::memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img.w;
    pi.height = (png_uint_32)img.h;
    pi.format = img.c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&pi, nullptr, &size, 0, img.pixels.data(), 0, nullptr))
        fail("%s: PNG encoding failed (%s)", path.c_str(), pi.message);
    std::string buf(size, '\0');
    if (!png_image_write_to_memory(&pi, &buf[0], &size, 0, img.pixels.data(), 0, nullptr))
        fail("%s: PNG encoding failed (%s)", path.c_str(), pi.message);
    buf.resize(size);
    write_file_atomic(path, buf);
}

}  // namespace cnx
