// IDX and CIFAR-10 files, held in memory as 8-bit pixels: every header is checked against the file
// and the dataset limit before anything is inflated or read, and inflation stops at the promise.
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"
#include "tools/dataset.h"

namespace cnx {

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

Dataset load_cifar_batches(const std::vector<std::string>& files, const std::string& name) {
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

}  // namespace cnx
