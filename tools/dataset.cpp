// Loading a dataset by kind: Fashion-MNIST and IDX, CIFAR-10 (tools/dataset_idx_cifar.cpp), image
// folders (every file's header checked up front) and synthetic data.
#include "tools/dataset.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "nn/parallel.h"

namespace cnx {

const char* default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

Image Dataset::image(int64_t i) const {
    if (!files.empty()) return read_image(files[(size_t)i], channels);
    Image img;
    img.h = height;
    img.w = width;
    img.c = channels;
    const size_t n = (size_t)height * width * channels;
    img.pixels.assign(pixels.begin() + (ptrdiff_t)(n * (size_t)i), pixels.begin() + (ptrdiff_t)(n * (size_t)(i + 1)));
    return img;
}

static std::vector<std::string> list_dir(const std::string& dir, bool dirs) {
    std::vector<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.empty() || n[0] == '.') continue;
        if (is_directory(path_join(dir, n)) == dirs) out.push_back(n);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

static bool is_image_name(const std::string& n) {
    std::string l = n;
    for (char& c : l) c = (char)std::tolower((unsigned char)c);
    auto ends = [&](const char* s) {
        size_t k = std::strlen(s);
        return l.size() >= k && l.compare(l.size() - k, k, s) == 0;
    };
    return ends(".png") || ends(".jpg") || ends(".jpeg");
}

std::vector<std::string> image_files_in(const std::string& dir) {
    std::vector<std::string> out;
    for (const std::string& sub : list_dir(dir, true))
        for (const std::string& f : image_files_in(path_join(dir, sub))) out.push_back(f);
    for (const std::string& f : list_dir(dir, false))
        if (is_image_name(f)) out.push_back(path_join(dir, f));
    return out;
}

// Opens every file of a folder dataset and decodes its header (in parallel), so that an unreadable,
// corrupt or oversized image fails the run in seconds instead of in the middle of an epoch.
static void check_folder_files(const std::vector<std::string>& files, const std::string& dir) {
    std::vector<std::string> errors(files.size());
    parallel_for((int64_t)files.size(), [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            try {
                read_image_header(files[(size_t)i]);
            } catch (const Error& err) {
                errors[(size_t)i] = err.what();
            }
        }
    });
    size_t bad = 0, first = files.size();
    for (size_t i = 0; i < files.size(); i++)
        if (!errors[i].empty()) {
            bad++;
            first = std::min(first, i);
        }
    if (bad == 1) fail("%s", errors[first].c_str());
    if (bad > 1) fail("%s: %zu of %zu images cannot be used; the first: %s", dir.c_str(), bad, files.size(), errors[first].c_str());
}

static Dataset scan_folder(const std::string& dir, const std::vector<std::string>& classes, int channels,
                           const std::string& name) {
    Dataset d;
    d.name = name;
    d.channels = channels;
    d.small_images = false;
    d.class_names = classes;
    d.num_classes = (int)classes.size();
    for (size_t k = 0; k < classes.size(); k++) {
        std::string cdir = path_join(dir, classes[k]);
        for (const std::string& f : list_dir(cdir, false)) {
            if (!is_image_name(f)) continue;
            d.files.push_back(path_join(cdir, f));
            d.labels.push_back((int32_t)k);
        }
    }
    if (d.files.empty()) fail("%s: no PNG or JPEG images in its class folders", dir.c_str());
    check_folder_files(d.files, dir);
    return d;
}

static DataSplits load_folder(const DatasetOptions& o) {
    if (o.path.empty()) fail("--dataset folder needs --data DIR");
    if (!is_directory(o.path)) fail("%s: not a folder", o.path.c_str());
    DataSplits s;
    std::string train_dir = path_join(o.path, "train");
    std::string test_dir;
    for (const char* t : {"val", "test"})
        if (is_directory(path_join(o.path, t))) test_dir = path_join(o.path, t);
    if (is_directory(train_dir) && !test_dir.empty()) {
        std::vector<std::string> classes = list_dir(train_dir, true);
        if (classes.size() < 2) fail("%s: expected at least two class sub-folders", train_dir.c_str());
        s.train = scan_folder(train_dir, classes, o.folder_channels, "folder train");
        s.test = scan_folder(test_dir, classes, o.folder_channels, "folder test");
    } else {
        std::vector<std::string> classes = list_dir(o.path, true);
        if (classes.size() < 2) fail("%s: expected class sub-folders (or train/ and val/)", o.path.c_str());
        Dataset all = scan_folder(o.path, classes, o.folder_channels, "folder");
        s.train = all;
        s.test = all;
        s.train.files.clear();
        s.train.labels.clear();
        s.test.files.clear();
        s.test.labels.clear();
        s.train.name = "folder train";
        s.test.name = "folder held-out";
        // The split depends only on the file name, so it is stable as files are added.
        for (size_t i = 0; i < all.files.size(); i++) {
            uint64_t h = 1469598103934665603ULL;
            for (unsigned char c : all.files[i]) h = (h ^ c) * 1099511628211ULL;
            bool test = (double)(mix64(h) >> 11) / 9007199254740992.0 < o.val_split;
            Dataset& d = test ? s.test : s.train;
            d.files.push_back(all.files[i]);
            d.labels.push_back(all.labels[i]);
        }
        if (s.test.files.empty() || s.train.files.empty())
            fail("%s: the %.0f%% hold-out split left a split empty; add images or use train/ and val/",
                 o.path.c_str(), o.val_split * 100);
    }
    if (o.folder_channels == 3) {
        s.mean = {0.485f, 0.456f, 0.406f};
        s.std = {0.229f, 0.224f, 0.225f};
    } else {
        s.mean = {0.5f};
        s.std = {0.5f};
    }
    return s;
}

static DataSplits make_synthetic(const DatasetOptions& o) {
    DataSplits s;
    const int S = o.synthetic_size, C = o.synthetic_channels, K = o.synthetic_classes;
    const size_t per = (size_t)S * S * C;
    // One smooth random pattern per class; samples are pattern + noise.
    std::vector<float> patterns((size_t)K * per);
    for (int k = 0; k < K; k++) {
        Rng r(stream_key(o.seed, kRngSynthetic, 1000 + (uint64_t)k));
        float fx = 1 + (float)r.below(3), fy = 1 + (float)r.below(3), ph = (float)r.uniform() * 6.28f;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int c = 0; c < C; c++)
                    patterns[(size_t)k * per + ((size_t)y * S + x) * C + c] =
                        0.5f + 0.35f * std::sin(fx * 6.28f * x / S + fy * 6.28f * y / S + ph + (float)c);
    }
    auto fill = [&](Dataset& d, int64_t n, uint64_t tag, const char* name) {
        d.name = name;
        d.channels = C;
        d.height = d.width = S;
        d.num_classes = K;
        d.pixels.resize((size_t)n * per);
        d.labels.resize((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            Rng r(stream_key(o.seed, kRngSynthetic, tag, (uint64_t)i));
            int k = (int)r.below((uint64_t)K);
            d.labels[(size_t)i] = k;
            for (size_t p = 0; p < per; p++) {
                float v = patterns[(size_t)k * per + p] + 0.25f * (r.uniform() - 0.5f);
                d.pixels[(size_t)i * per + p] = (uint8_t)std::min(255.0f, std::max(0.0f, v * 255.0f + 0.5f));
            }
        }
    };
    fill(s.train, o.synthetic_train, 1, "synthetic train");
    fill(s.test, o.synthetic_test, 2, "synthetic test");
    s.mean.assign((size_t)C, 0.5f);
    s.std.assign((size_t)C, 0.25f);
    return s;
}

void dataset_stats(const Dataset& d, std::vector<float>& mean, std::vector<float>& std) {
    const int C = d.channels;
    std::vector<double> s((size_t)C, 0.0), ss((size_t)C, 0.0);
    const size_t n = d.pixels.size() / (size_t)C;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            double v = d.pixels[i * (size_t)C + (size_t)c] / 255.0;
            s[(size_t)c] += v;
            ss[(size_t)c] += v * v;
        }
    mean.resize((size_t)C);
    std.resize((size_t)C);
    for (int c = 0; c < C; c++) {
        double m = s[(size_t)c] / (double)n;
        mean[(size_t)c] = (float)m;
        std[(size_t)c] = (float)std::sqrt(std::max(1e-12, ss[(size_t)c] / (double)n - m * m));
    }
}

static std::string idx_file(const std::string& dir, const char* stem) {
    std::string p = path_join(dir, stem);
    if (file_exists(p + ".gz")) return p + ".gz";
    if (file_exists(p)) return p;
    return p + ".gz";  // the not-found error names the usual file
}

DataSplits load_dataset(const DatasetOptions& o) {
    DataSplits s;
    if (o.kind == "fashion-mnist" || o.kind == "idx") {
        std::string dir = o.path;
        if (dir.empty()) {
            if (o.kind == "idx" && o.train_images.empty()) fail("--dataset idx needs --data DIR or --train-images/--train-labels/--test-images/--test-labels");
            dir = default_fashion_mnist_dir();
        }
        if (o.kind == "fashion-mnist" && !is_directory(dir))
            fail("%s: Fashion-MNIST not found (install Debian's dataset-fashion-mnist package, or pass --data DIR)", dir.c_str());
        auto pick = [&](const std::string& given, const char* stem) { return given.empty() ? idx_file(dir, stem) : given; };
        s.train = load_idx_pair(pick(o.train_images, "train-images-idx3-ubyte"), pick(o.train_labels, "train-labels-idx1-ubyte"),
                                o.kind + " train");
        s.test = load_idx_pair(pick(o.test_images, "t10k-images-idx3-ubyte"), pick(o.test_labels, "t10k-labels-idx1-ubyte"),
                               o.kind + " test");
        if (s.train.height != s.test.height || s.train.width != s.test.width)
            fail("train images are %dx%d but test images are %dx%d", s.train.height, s.train.width, s.test.height, s.test.width);
        int K = std::max(s.train.num_classes, s.test.num_classes);
        s.train.num_classes = s.test.num_classes = K;
        if (o.kind == "fashion-mnist") {
            if (K != 10) fail("%s: Fashion-MNIST labels span %d classes, expected 10", dir.c_str(), K);
            s.train.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
            s.test.class_names = s.train.class_names;
        }
        dataset_stats(s.train, s.mean, s.std);
    } else if (o.kind == "cifar10") {
        if (o.path.empty()) fail("--dataset cifar10 needs --data DIR (the cifar-10-batches-bin folder)");
        std::vector<std::string> train;
        for (int i = 1; i <= 5; i++) train.push_back(path_join(o.path, "data_batch_" + std::to_string(i) + ".bin"));
        s.train = load_cifar_batches(train, "cifar10 train");
        s.test = load_cifar_batches({path_join(o.path, "test_batch.bin")}, "cifar10 test");
        s.train.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
        s.test.class_names = s.train.class_names;
        dataset_stats(s.train, s.mean, s.std);
    } else if (o.kind == "folder") {
        s = load_folder(o);
    } else if (o.kind == "synthetic") {
        s = make_synthetic(o);
    } else {
        fail("unknown dataset '%s' (expected fashion-mnist, idx, cifar10, folder or synthetic)", o.kind.c_str());
    }
    return s;
}

}  // namespace cnx
