#include "tools/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
#include <png.h>

#include "core/check.h"
#include "core/fileio.h"

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

static Image decode_png(const std::string& data, const std::string& path) {
    png_image pi;
    std::memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data.data(), data.size()))
        fail("%s: corrupt PNG (%s)", path.c_str(), pi.message);
    pi.format = PNG_FORMAT_RGB;
    Image img;
    img.h = (int)pi.height;
    img.w = (int)pi.width;
    img.c = 3;
    img.pixels.resize(PNG_IMAGE_SIZE(pi));
    if (!png_image_finish_read(&pi, nullptr, img.pixels.data(), 0, nullptr)) {
        std::string msg = pi.message;
        png_image_free(&pi);
        fail("%s: corrupt PNG (%s)", path.c_str(), msg.c_str());
    }
    return img;
}

namespace {
struct JpegError {
    jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};
void jpeg_error_exit(j_common_ptr cinfo) {
    JpegError* e = reinterpret_cast<JpegError*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}
}  // namespace

static Image decode_jpeg(const std::string& data, const std::string& path) {
    jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.output_message = [](j_common_ptr) {};
    Image img;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fail("%s: corrupt JPEG (%s)", path.c_str(), err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(data.data()), (unsigned long)data.size());
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    img.h = (int)cinfo.output_height;
    img.w = (int)cinfo.output_width;
    img.c = 3;
    img.pixels.resize((size_t)img.h * img.w * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img.pixels.data() + (size_t)cinfo.output_scanline * img.w * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return img;
}

Image read_image(const std::string& path, int channels) {
    std::string data = read_file(path);
    Image img;
    if (data.size() >= 8 && std::memcmp(data.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
        img = decode_png(data, path);
    } else if (data.size() >= 3 && (unsigned char)data[0] == 0xff && (unsigned char)data[1] == 0xd8) {
        img = decode_jpeg(data, path);
    } else {
        fail("%s: not a PNG or JPEG file", path.c_str());
    }
    if (img.h <= 0 || img.w <= 0) fail("%s: empty image", path.c_str());
    to_channels(img, channels);
    return img;
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

void resize_bilinear(float* dst, int out_h, int out_w, const Image& src, float y0, float x0, float ch, float cw) {
    const int C = src.c;
    const float sy = ch / (float)out_h, sx = cw / (float)out_w;
    for (int oy = 0; oy < out_h; oy++) {
        float fy = y0 + ((float)oy + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        if (fy > (float)(src.h - 1)) fy = (float)(src.h - 1);
        int iy = (int)fy;
        int iy1 = iy + 1 < src.h ? iy + 1 : iy;
        float ty = fy - (float)iy;
        for (int ox = 0; ox < out_w; ox++) {
            float fx = x0 + ((float)ox + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            if (fx > (float)(src.w - 1)) fx = (float)(src.w - 1);
            int ix = (int)fx;
            int ix1 = ix + 1 < src.w ? ix + 1 : ix;
            float tx = fx - (float)ix;
            const uint8_t* p00 = &src.pixels[((size_t)iy * src.w + ix) * C];
            const uint8_t* p01 = &src.pixels[((size_t)iy * src.w + ix1) * C];
            const uint8_t* p10 = &src.pixels[((size_t)iy1 * src.w + ix) * C];
            const uint8_t* p11 = &src.pixels[((size_t)iy1 * src.w + ix1) * C];
            float* o = dst + ((size_t)oy * out_w + ox) * C;
            for (int c = 0; c < C; c++) {
                float top = (float)p00[c] + ((float)p01[c] - (float)p00[c]) * tx;
                float bot = (float)p10[c] + ((float)p11[c] - (float)p10[c]) * tx;
                o[c] = (top + (bot - top) * ty) * (1.0f / 255.0f);
            }
        }
    }
}

}  // namespace cnx
