// Datasets and the input pipeline: IDX (valid and malformed), CIFAR-10 batches, image folders with
// PNG and JPEG files, Debian's Fashion-MNIST, and the transforms.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <zlib.h>

#include "core/check.h"
#include "core/fileio.h"
#include "tests/data_files.h"
#include "tests/util.h"
#include "tools/augment.h"
#include "tools/dataset.h"
#include "tools/image.h"
#include "tools/randaugment.h"
#include "tools/resample.h"

using namespace cnx;
using test::be32;
using test::idx_images;
using test::idx_labels;
using test::write_gz;

namespace {

std::string load_error(const std::string& images, const std::string& labels) {
    try {
        load_idx_pair(images, labels, "t");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void write_jpeg(const std::string& path, const Image& img) {
    test::JpegOptions o;
    o.quality = 95;
    write_file_atomic(path, test::encode_jpeg(img, o));
}

Image solid(int h, int w, uint8_t r, uint8_t g, uint8_t b) {
    Image img;
    img.h = h;
    img.w = w;
    img.c = 3;
    for (int i = 0; i < h * w; i++) {
        img.pixels.push_back(r);
        img.pixels.push_back(g);
        img.pixels.push_back(b);
    }
    return img;
}

}  // namespace

TEST_CASE("idx: gzip and plain files load; malformed files are rejected clearly") {
    std::string d = test::temp_dir("idx");
    write_gz(path_join(d, "im.gz"), idx_images(5, 3, 4));
    write_file_atomic(path_join(d, "lb"), idx_labels(5, 3));
    Dataset ds = load_idx_pair(path_join(d, "im.gz"), path_join(d, "lb"), "t");
    CHECK(ds.size() == 5);
    CHECK(ds.height == 3);
    CHECK(ds.width == 4);
    CHECK(ds.num_classes == 3);
    CHECK(ds.labels[4] == 1);
    Image im = ds.image(2);
    CHECK(im.pixels[1] == (uint8_t)((2 * 12 + 1) * 7 % 256));

    auto put = [&](const char* name, const std::string& data) {
        write_file_atomic(path_join(d, name), data);
        return path_join(d, name);
    };
    const std::string lb = path_join(d, "lb");
    CHECK(load_error(put("bad_magic", be32(0x804) + idx_images(5, 3, 4).substr(4)), lb).find("not an IDX image file") != std::string::npos);
    CHECK(load_error(put("short", idx_images(5, 3, 4).substr(0, 30)), lb).find("but the header promises 5 images of 3x4") != std::string::npos);
    CHECK(load_error(put("six", idx_images(6, 3, 4)), lb).find("has 6 images but") != std::string::npos);
    CHECK(load_error(path_join(d, "im.gz"), put("lbad", be32(0x801) + be32(9) + "ab")).find("promises 9 labels") != std::string::npos);
    CHECK(load_error(path_join(d, "missing.gz"), lb).find("file not found") != std::string::npos);
    std::string corrupt = std::string("\x1f\x8b\x08\x00", 4) + std::string(40, 'x');
    CHECK(load_error(put("corrupt.gz", corrupt), lb).find("corrupt gzip") != std::string::npos);
}

TEST_CASE("Fashion-MNIST from Debian's dataset-fashion-mnist package") {
    if (!is_directory(default_fashion_mnist_dir())) {
        MESSAGE("SKIPPED: dataset-fashion-mnist is not installed (make deps installs it)");
        return;
    }
    DatasetOptions o;
    DataSplits s = load_dataset(o);
    CHECK(s.train.size() == 60000);
    CHECK(s.test.size() == 10000);
    CHECK(s.train.height == 28);
    CHECK(s.train.num_classes == 10);
    CHECK(s.train.class_names[9] == "Ankle boot");
    CHECK(s.mean[0] == doctest::Approx(0.2860).epsilon(1e-3));
    CHECK(s.std[0] == doctest::Approx(0.3530).epsilon(1e-3));
}

TEST_CASE("cifar10 binary batches: planes become interleaved RGB; bad sizes are rejected") {
    std::string d = test::temp_dir("cifar");
    std::string rec;
    for (int r = 0; r < 2; r++) {
        rec += (char)(r + 3);
        for (int c = 0; c < 3; c++) rec += std::string(1024, (char)(10 * c + r));
    }
    for (int i = 1; i <= 5; i++) write_file_atomic(path_join(d, "data_batch_" + std::to_string(i) + ".bin"), rec);
    write_file_atomic(path_join(d, "test_batch.bin"), rec);
    DatasetOptions o;
    o.kind = "cifar10";
    o.path = d;
    DataSplits s = load_dataset(o);
    CHECK(s.train.size() == 10);
    CHECK(s.test.labels[1] == 4);
    Image im = s.test.image(1);
    CHECK(im.pixels[0] == 1);
    CHECK(im.pixels[1] == 11);
    CHECK(im.pixels[2] == 21);
    write_file_atomic(path_join(d, "test_batch.bin"), rec.substr(0, 100));
    CHECK_THROWS_WITH_AS(load_dataset(o), doctest::Contains("not a whole number of CIFAR-10 records"), Error);
}

TEST_CASE("image folder: PNG and JPEG files, train/val split, corrupt files named") {
    std::string d = test::temp_dir("folder");
    for (const char* split : {"train", "val"})
        for (const char* cls : {"cat", "dog"}) make_dirs(path_join(path_join(d, split), cls));
    write_png(path_join(d, "train/cat/a.png"), solid(20, 30, 200, 10, 10));
    write_jpeg(path_join(d, "train/dog/b.jpg"), solid(16, 16, 10, 10, 200));
    write_png(path_join(d, "val/cat/c.png"), solid(8, 8, 200, 10, 10));
    write_png(path_join(d, "val/dog/d.png"), solid(8, 8, 10, 10, 200));
    DatasetOptions o;
    o.kind = "folder";
    o.path = d;
    DataSplits s = load_dataset(o);
    CHECK(s.train.class_names == std::vector<std::string>{"cat", "dog"});
    CHECK(s.train.size() == 2);
    CHECK(s.test.size() == 2);
    Image jpg = s.train.image(1);
    CHECK(jpg.h == 16);
    CHECK(std::abs((int)jpg.pixels[2] - 200) < 6);  // lossy
    Image png = s.train.image(0);
    CHECK(png.w == 30);
    CHECK(png.pixels[0] == 200);
    // grayscale reading
    Image gray = read_image(path_join(d, "train/cat/a.png"), 1);
    CHECK(gray.c == 1);
    CHECK(gray.pixels[0] == (uint8_t)((200 * 299 + 10 * 587 + 10 * 114 + 500) / 1000));
    // A broken file fails the loading, before any step, naming the file; several are counted.
    write_file_atomic(path_join(d, "train/dog/broken.png"), "\x89PNG\r\n\x1a\nnot really");
    CHECK_THROWS_WITH_AS(load_dataset(o), doctest::Contains("broken.png: corrupt PNG"), Error);
    write_file_atomic(path_join(d, "train/cat/empty.jpg"), "");
    const std::string two_bad = "train: 2 of 4 images cannot be used; the first: " + path_join(d, "train/cat/empty.jpg") +
                                ": not a PNG or JPEG";
    CHECK_THROWS_WITH_AS(load_dataset(o), doctest::Contains(two_bad.c_str()), Error);
    std::remove(path_join(d, "train/dog/broken.png").c_str());
    std::remove(path_join(d, "train/cat/empty.jpg").c_str());
    // A file cut after its header passes the check and fails when decoded, naming the file.
    Image busy = solid(96, 96, 0, 0, 0);
    for (size_t i = 0; i < busy.pixels.size(); i++) busy.pixels[i] = (uint8_t)(i * 53 % 251);  // mostly scan data
    const std::string whole = test::encode_jpeg(busy);
    write_file_atomic(path_join(d, "train/dog/cut.jpg"), whole.substr(0, whole.size() / 2));
    DataSplits s2 = load_dataset(o);
    REQUIRE(s2.train.size() == 3);
    CHECK_THROWS_WITH_AS(s2.train.image(2), doctest::Contains("cut.jpg: truncated JPEG"), Error);
    write_file_atomic(path_join(d, "x.txt"), "hello");
    CHECK_THROWS_WITH_AS(read_image(path_join(d, "x.txt"), 3), doctest::Contains("not a PNG or JPEG"), Error);
}

TEST_CASE("transforms: eval is a plain normalisation, train is deterministic per key, flip mirrors") {
    Image img;
    img.h = img.w = 4;
    img.c = 1;
    for (int i = 0; i < 16; i++) img.pixels.push_back((uint8_t)(i * 10));
    Transform t;
    t.size = 4;
    t.channels = 1;
    t.mean = {0.5f};
    t.std = {0.25f};
    t.pad = 0;
    std::vector<float> out(16), out2(16);
    Rng r(1);
    apply_transform(out.data(), img, t, r);
    for (int i = 0; i < 16; i++) CHECK(out[(size_t)i] == doctest::Approx((i * 10 / 255.0 - 0.5) / 0.25));
    // training with pad 0: either identity or the mirror image
    t.train = true;
    int flipped = 0;
    for (uint64_t k = 0; k < 20; k++) {
        Rng a(k);
        apply_transform(out2.data(), img, t, a);
        bool mirror = out2[0] == out[3] && out2[3] == out[0];
        bool same = out2 == out;
        CHECK((mirror || same));
        flipped += mirror;
        Rng b(k);
        std::vector<float> again(16);
        apply_transform(again.data(), img, t, b);
        CHECK(again == out2);
    }
    CHECK(flipped > 3);
    CHECK(flipped < 17);
    // folder-style eval: shorter side to size / crop_pct, centre crop at Python's round() of the
    // margins (halves to even): with crop_pct 0.5 the 10x30 image keeps its size and the 5x5 crop
    // starts at row round(2.5) = 2, column round(12.5) = 12, exactly the red box
    Image wide = solid(10, 30, 0, 0, 0);
    for (int y = 2; y < 7; y++)
        for (int x = 12; x < 17; x++) wide.pixels[(size_t)(y * 30 + x) * 3] = 255;
    Transform f;
    f.size = 5;
    f.channels = 3;
    f.mean = {0, 0, 0};
    f.std = {1, 1, 1};
    f.small_images = false;
    f.crop_pct = 0.5f;
    std::vector<float> crop(75);
    Rng unused(0);
    apply_transform(crop.data(), wide, f, unused);
    for (int i = 0; i < 25; i++) CHECK(crop[(size_t)i * 3] == 1.0f);
}

TEST_CASE("transforms: training resizes with Pillow's bicubic, then RandAugment on 8 bits, then normalises; 384+ evaluates unclipped") {
    Image img;  // 20x20 gray with structure, resized to 24
    img.h = img.w = 20;
    img.c = 1;
    for (int i = 0; i < 400; i++) img.pixels.push_back((uint8_t)((i * 37 + (i / 20) * 11) % 256));
    Transform t;
    t.size = 24;
    t.channels = 1;
    t.mean = {0.25f};
    t.std = {0.5f};
    t.train = true;
    t.pad = 0;
    t.hflip = false;
    const uint8_t fill[3] = {64, 64, 64};
    t.aa = parse_rand_augment("rand-m9-mstd0.5-inc1", fill, Interpolation::Bicubic);
    int changed = 0;
    for (uint64_t k = 0; k < 12; k++) {
        std::vector<float> got(576);
        Rng a(k);
        apply_transform(got.data(), img, t, a);
        Image want = resize_image(img, 24, 24, Interpolation::Bicubic);
        const Image plain = want;
        Rng b(k);
        rand_augment(want, *t.aa, b);
        changed += want.pixels != plain.pixels;
        for (size_t i = 0; i < got.size(); i++) REQUIRE(got[i] == (want.pixels[i] * (1.0f / 255.0f) - 0.25f) / 0.5f);
    }
    CHECK(changed > 3);  // two ops at probability 1/2 each: most draws change the image
    // from 384 on, evaluation is a plain resize of the whole image (no crop)
    Transform e;
    e.size = 384;
    e.channels = 1;
    e.mean = {0};
    e.std = {1};
    e.small_images = false;
    Image tall;
    tall.h = 500;
    tall.w = 400;
    tall.c = 1;
    tall.pixels.assign(200000, 0);
    for (int x = 0; x < 400; x++) tall.pixels[(size_t)x] = 255;  // the top row only
    std::vector<float> out(384 * 384);
    Rng unused(0);
    apply_transform(out.data(), tall, e, unused);
    CHECK(out[0] > 0.5f);  // the top row survives: nothing was cropped away
}

TEST_CASE("random erasing follows timm's RandomErasing: one box of 2-33% of the image, aspect 0.3-3.3, per-key") {
    const int S = 32, C = 3;
    const size_t n = (size_t)S * S * C;
    int erased = 0;
    double sum = 0, sumsq = 0;
    int64_t values = 0;
    for (uint64_t key = 0; key < 2000; key++) {
        std::vector<float> img(n, 5.0f);  // outside any normal draw's reach in practice
        Rng rng(key);
        if (!random_erase(img.data(), S, C, 1.0f, EraseMode::Pixel, rng)) continue;  // all 10 attempts too large
        erased++;
        int y0 = S, y1 = -1, x0 = S, x1 = -1;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                if (img[((size_t)y * S + x) * C] != 5.0f) {
                    y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
                }
        const int h = y1 - y0 + 1, w = x1 - x0 + 1;
        CAPTURE(key);
        REQUIRE(h >= 1);
        CHECK(h < S);
        CHECK(w < S);
        // the box, whole: every value inside it redrawn, none outside
        int inside = 0, outside = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int c = 0; c < C; c++) {
                    const float v = img[((size_t)y * S + x) * C + c];
                    const bool in = y >= y0 && y <= y1 && x >= x0 && x <= x1;
                    inside += in && v != 5.0f;
                    outside += !in && v != 5.0f;
                    if (in) sum += v, sumsq += (double)v * v, values++;
                }
        CHECK(inside == h * w * C);
        CHECK(outside == 0);
        // area and aspect as drawn, up to the rounding of h and w
        const double area = (double)h * w / (S * S);
        CHECK(area >= 0.02 * 0.5);
        CHECK(area <= 1.0 / 3 * 1.6);
        CHECK((double)h / w >= 0.3 * 0.5);
        CHECK((double)h / w <= 1 / 0.3 * 2.0);
        // deterministic per key
        std::vector<float> again(n, 5.0f);
        Rng rng2(key);
        random_erase(again.data(), S, C, 1.0f, EraseMode::Pixel, rng2);
        CHECK(again == img);
    }
    CHECK(erased > 1900);  // an attempt fits nearly always
    const double mean = sum / (double)values, sd = std::sqrt(sumsq / (double)values - mean * mean);
    CHECK(std::fabs(mean) < 0.02);  // pixel mode: standard normal values
    CHECK(std::fabs(sd - 1.0) < 0.02);
    // probability p; the per-channel and constant fills
    int hits = 0;
    for (uint64_t key = 0; key < 4000; key++) {
        std::vector<float> img(n, 5.0f);
        Rng rng(key);
        hits += random_erase(img.data(), S, C, 0.25f, EraseMode::Pixel, rng);
    }
    CHECK(std::fabs(hits / 4000.0 - 0.25) < 0.025);
    for (EraseMode mode : {EraseMode::Rand, EraseMode::Const}) {
        std::vector<float> img(n, 5.0f);
        Rng rng(3);
        REQUIRE(random_erase(img.data(), S, C, 1.0f, mode, rng));
        std::vector<float> first(C, NAN);
        for (size_t i = 0; i < n; i++) {
            if (img[i] == 5.0f) continue;
            float& f = first[i % C];
            if (std::isnan(f)) f = img[i];
            CHECK(img[i] == f);  // one value per channel over the box
            if (mode == EraseMode::Const) CHECK(img[i] == 0.0f);
        }
    }
    CHECK_THROWS_WITH_AS(parse_erase_mode("blur"), "--remode must be pixel, rand or const (got 'blur')", Error);
}
