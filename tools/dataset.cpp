#include "tools/dataset.h"

#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"
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

// "24.6 GB", "12.0 MB" or "1000 bytes": a limit as people read it.
static std::string byte_size_text(uint64_t bytes) {
    if (bytes >= 1000000000) return strfmt("%.1f GB", (double)bytes / 1e9);
    if (bytes >= 1000000) return strfmt("%.1f MB", (double)bytes / 1e6);
    return strfmt("%llu bytes", (unsigned long long)bytes);
}

static std::string limit_text() { return byte_size_text(dataset_byte_limit()) + " an in-memory dataset may take"; }

// Size of an input file from stat, so that what it promises is checked before it is read.
static uint64_t input_file_size(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) fail("%s: %s", path.c_str(), errno == ENOENT ? "file not found" : std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("%s: not a regular file", path.c_str());
    return (uint64_t)st.st_size;
}

// The first `n` bytes of a file (fewer when it is shorter).
static std::string read_file_start(const std::string& path, size_t n) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("%s: cannot open (%s)", path.c_str(), std::strerror(errno));
    std::string head(n, '\0');
    head.resize(std::fread(&head[0], 1, n, f));
    const bool err = std::ferror(f);
    std::fclose(f);
    if (err) fail("%s: read error", path.c_str());
    return head;
}

static bool is_gzip(const char* data, size_t size) {
    return size >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b;
}
static bool is_gzip(const std::string& s) { return is_gzip(s.data(), s.size()); }

static uint32_t be32(const std::string& s, size_t off) {
    return ((uint32_t)(unsigned char)s[off] << 24) | ((uint32_t)(unsigned char)s[off + 1] << 16) |
           ((uint32_t)(unsigned char)s[off + 2] << 8) | (uint32_t)(unsigned char)s[off + 3];
}

// Deflate inflates to at most 1032 times its size (a 258-byte match costs at least two bits), and
// gzip framing (18 bytes or more per member) only adds stored bytes, so no real file is over it.
constexpr int64_t kMaxDeflateRatio = 1032;
// zlib counts bytes in 32 bits: larger buffers go to it in pieces.
constexpr size_t kZlibPiece = size_t(1) << 30;

// The two kinds of IDX file: a big-endian magic, then the dimensions as big-endian u32.
struct IdxKind {
    uint32_t magic;
    size_t header_bytes;
    bool images;               // [n][h][w] images, else [n] labels
    const char* wrong_magic;   // the error for another file (or one shorter than a header)
};
static const IdxKind kIdxImages = {0x00000803, 16, true,
                                   "not an IDX image file (expected magic 0x00000803 for unsigned bytes in 3 dimensions)"};
static const IdxKind kIdxLabels = {0x00000801, 8, false, "not an IDX label file (expected magic 0x00000801)"};

struct IdxHeader {
    uint32_t count = 0, height = 1, width = 1;
    uint64_t payload_bytes = 0;  // what follows the header: count * height * width
    std::string promise;         // for errors: "5 images of 3x4 (60 bytes)" or "5 labels (5 bytes)"
};

// The data after an IDX header is not what the header promises.
[[noreturn]] static void fail_idx_size(const std::string& name, uint64_t bytes_after_header, const IdxHeader& h) {
    fail("%s: %llu bytes after the header, but the header promises %s", name.c_str(), (unsigned long long)bytes_after_header,
         h.promise.c_str());
}

// Checks what an IDX header promises before the data after it is decoded: against what
// `stored_bytes` of gzip can hold (or the exact size of plain data), then against the dataset limit.
static IdxHeader check_idx_header(const std::string& head, const IdxKind& kind, bool gzip, uint64_t stored_bytes,
                                  const std::string& name) {
    if (head.size() < kind.header_bytes || be32(head, 0) != kind.magic) fail("%s: %s", name.c_str(), kind.wrong_magic);
    IdxHeader h;
    h.count = be32(head, 4);
    if (kind.images) {
        h.height = be32(head, 8);
        h.width = be32(head, 12);
        if (h.height == 0 || h.width == 0 || h.height > 4096 || h.width > 4096)
            fail("%s: bad image size %ux%u", name.c_str(), h.height, h.width);
        if (h.count == 0) fail("%s: no images", name.c_str());
    }
    int64_t payload = 0;
    CNX_CHECK(checked_mul(h.count, (int64_t)h.height * h.width, &payload), "IDX sizes stay below 2^56");
    h.payload_bytes = (uint64_t)payload;
    h.promise = kind.images ? strfmt("%u images of %ux%u (%llu bytes)", h.count, h.height, h.width, (unsigned long long)payload)
                            : strfmt("%u labels (%llu bytes)", h.count, (unsigned long long)payload);
    const uint64_t total = kind.header_bytes + h.payload_bytes;
    int64_t gzip_can_hold = 0;
    if (gzip && checked_mul((int64_t)stored_bytes, kMaxDeflateRatio, &gzip_can_hold) && total > (uint64_t)gzip_can_hold)
        fail("%s: the header promises %s, more than a %llu-byte gzip file can hold", name.c_str(), h.promise.c_str(),
             (unsigned long long)stored_bytes);
    if (!gzip && stored_bytes != total)
        fail_idx_size(name, stored_bytes > kind.header_bytes ? stored_bytes - kind.header_bytes : 0, h);
    if (h.payload_bytes > dataset_byte_limit())
        fail("%s: the header promises %s, more than the %s", name.c_str(), h.promise.c_str(), limit_text().c_str());
    return h;
}

// One IDX input held in memory, gzip or plain: its header is read and checked on construction, then
// its payload is decoded on request.
class IdxInput {
public:
    IdxInput(const std::string& bytes, const IdxKind& kind, const std::string& name)
        : bytes_(bytes), name_(name), gzip_(is_gzip(bytes)) {
        if (gzip_) {
            if (inflateInit2(&zs_.s, 16 + MAX_WBITS) != Z_OK) fail("%s: cannot start inflating (out of memory)", name.c_str());
            zs_.started = true;
        }
        std::string head(kind.header_bytes, '\0');
        head.resize(read(reinterpret_cast<unsigned char*>(&head[0]), head.size()));
        header_ = check_idx_header(head, kind, gzip_, bytes.size(), name);
    }
    IdxInput(const IdxInput&) = delete;
    IdxInput& operator=(const IdxInput&) = delete;

    const IdxHeader& header() const { return header_; }

    // Exactly the promised bytes after the header. Memory grows with the data actually decoded and
    // never past the promise, so a header that lies cannot make it allocate; one byte more is an error.
    std::vector<uint8_t> payload() {
        std::vector<uint8_t> out;
        size_t filled = 0;
        while (filled < header_.payload_bytes) {
            const size_t grown = (size_t)std::min<uint64_t>(header_.payload_bytes, std::max<size_t>(2 * filled, 1 << 16));
            out.reserve(grown);  // reserve sets the capacity exactly; resize alone may double past the promise
            out.resize(grown);
            const size_t want = grown - filled;
            const size_t got = read(out.data() + filled, want);
            filled += got;
            if (got < want) break;
        }
        if (filled < header_.payload_bytes) fail_idx_size(name_, filled, header_);
        unsigned char extra;
        if (read(&extra, 1) != 0)
            fail("%s: the file holds more data than its header promises (%s)", name_.c_str(), header_.promise.c_str());
        return out;
    }

private:
    // Fills out[0..max) with the next decoded bytes; returns how many, fewer than max only at the end.
    // Gzip is read member after member, and bytes after a member that do not start another are
    // ignored, as gzread does.
    size_t read(unsigned char* out, size_t max) {
        if (!gzip_) {
            const size_t n = std::min(max, bytes_.size() - pos_);
            std::memcpy(out, bytes_.data() + pos_, n);
            pos_ += n;
            return n;
        }
        size_t filled = 0;
        while (filled < max && !finished_) {
            if (zs_.s.avail_in == 0) {
                zs_.s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes_.data() + pos_));
                zs_.s.avail_in = (uInt)std::min(bytes_.size() - pos_, kZlibPiece);
                pos_ += zs_.s.avail_in;
            }
            const uInt want = (uInt)std::min(max - filled, kZlibPiece);
            zs_.s.next_out = out + filled;
            zs_.s.avail_out = want;
            const int ret = inflate(&zs_.s, Z_NO_FLUSH);
            filled += want - zs_.s.avail_out;
            if (ret == Z_STREAM_END) {
                const size_t next = pos_ - zs_.s.avail_in;
                if (is_gzip(bytes_.data() + next, bytes_.size() - next))
                    inflateReset(&zs_.s);
                else
                    finished_ = true;
            } else if (ret == Z_BUF_ERROR) {  // the output has room, so the input ran out mid-stream
                fail("%s: corrupt gzip data (unexpected end of file)", name_.c_str());
            } else if (ret != Z_OK) {
                fail("%s: corrupt gzip data (%s)", name_.c_str(), zs_.s.msg ? zs_.s.msg : "inflate failed");
            }
        }
        return filled;
    }

    const std::string& bytes_;
    const std::string& name_;
    const bool gzip_;
    // Ended by its own destructor, which also runs when the header check throws in ours.
    struct ZStream {
        z_stream s{};
        bool started = false;
        ~ZStream() {
            if (started) inflateEnd(&s);
        }
    } zs_;
    size_t pos_ = 0;  // bytes handed to zlib, or copied out of plain data
    bool finished_ = false;
    IdxHeader header_;
};

Dataset parse_idx_pair(const std::string& image_bytes, const std::string& label_bytes, const std::string& images_name,
                       const std::string& labels_name, const std::string& name) {
    IdxInput images(image_bytes, kIdxImages, images_name);
    IdxInput labels(label_bytes, kIdxLabels, labels_name);
    const uint32_t n = images.header().count, nl = labels.header().count;
    if (n != nl) fail("%s has %u images but %s has %u labels", images_name.c_str(), n, labels_name.c_str(), nl);
    Dataset d;
    d.name = name;
    d.channels = 1;
    d.height = (int)images.header().height;
    d.width = (int)images.header().width;
    d.pixels = images.payload();
    const std::vector<uint8_t> label_values = labels.payload();
    d.labels.assign(label_values.begin(), label_values.end());
    d.num_classes = *std::max_element(d.labels.begin(), d.labels.end()) + 1;
    return d;
}

// Reads an IDX file for parse_idx_pair. Refused unread: a plain file whose size differs from what its
// header promises, and a gzip file larger than the dataset limit (it is held while it inflates).
static std::string read_idx_file(const std::string& path, const IdxKind& kind) {
    const uint64_t size = input_file_size(path);
    const std::string head = read_file_start(path, kind.header_bytes);
    if (!is_gzip(head))
        check_idx_header(head, kind, false, size, path);
    else if (size > dataset_byte_limit())
        fail("%s: a %llu-byte gzip file is more than the %s", path.c_str(), (unsigned long long)size, limit_text().c_str());
    return read_file(path);
}

Dataset load_idx_pair(const std::string& images, const std::string& labels, const std::string& name) {
    const std::string image_bytes = read_idx_file(images, kIdxImages);
    const std::string label_bytes = read_idx_file(labels, kIdxLabels);
    return parse_idx_pair(image_bytes, label_bytes, images, labels, name);
}

constexpr uint64_t kCifarImageBytes = 3 * 32 * 32;
constexpr uint64_t kCifarRecordBytes = 1 + kCifarImageBytes;

// A CIFAR-10 batch of `bytes` added to `records_before` records: a non-zero whole number of records,
// and all of them within the dataset limit.
static void check_cifar_batch_size(uint64_t bytes, uint64_t records_before, const std::string& name) {
    if (bytes == 0 || bytes % kCifarRecordBytes != 0)
        fail("%s: %llu bytes is not a whole number of CIFAR-10 records (%llu bytes each)", name.c_str(),
             (unsigned long long)bytes, (unsigned long long)kCifarRecordBytes);
    const uint64_t total = records_before * kCifarRecordBytes + bytes;
    if (total > dataset_byte_limit())
        fail("%s: with this batch the CIFAR-10 data takes %llu bytes, more than the %s", name.c_str(),
             (unsigned long long)total, limit_text().c_str());
}

void parse_cifar_batch(const std::string& bytes, const std::string& name, Dataset& into) {
    CNX_CHECK(into.pixels.size() == into.labels.size() * kCifarImageBytes, "parse_cifar_batch appends to CIFAR-10 data only");
    check_cifar_batch_size(bytes.size(), into.labels.size(), name);
    const size_t n = bytes.size() / kCifarRecordBytes;
    const unsigned char* records = reinterpret_cast<const unsigned char*>(bytes.data());
    for (size_t i = 0; i < n; i++)  // before appending, so that `into` is unchanged on error
        if (records[i * kCifarRecordBytes] > 9)
            fail("%s: record %zu has label %d (expected 0..9)", name.c_str(), i, records[i * kCifarRecordBytes]);
    into.channels = 3;
    into.height = into.width = 32;
    into.num_classes = 10;
    size_t out = into.pixels.size();
    into.pixels.resize(out + n * kCifarImageBytes);
    for (size_t i = 0; i < n; i++) {
        const unsigned char* r = records + i * kCifarRecordBytes;
        into.labels.push_back(r[0]);
        for (int p = 0; p < 1024; p++)  // planes R, G, B -> interleaved HWC
            for (int c = 0; c < 3; c++) into.pixels[out++] = r[1 + c * 1024 + p];
    }
}

static Dataset load_cifar_batches(const std::vector<std::string>& files, const std::string& name) {
    uint64_t records = 0;
    for (const std::string& f : files) {  // sizes first: nothing is read unless every batch passes
        const uint64_t bytes = input_file_size(f);
        check_cifar_batch_size(bytes, records, f);
        records += bytes / kCifarRecordBytes;
    }
    Dataset d;
    d.name = name;
    for (const std::string& f : files) parse_cifar_batch(read_file(f), f, d);
    return d;
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
