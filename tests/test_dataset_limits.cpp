// In-memory datasets against untrusted files: IDX headers are checked before anything is inflated
// or read (gzip bombs, lying headers, sizes over the dataset limit), CIFAR-10 batch sizes before the
// batches are read, and the in-memory parsers match the file loaders.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <functional>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"
#include "tests/data_files.h"
#include "tests/util.h"
#include "tools/dataset.h"

using namespace cnx;
using test::idx_images;
using test::idx_labels;
using test::ChildRun;
using test::run_in_child;
using test::write_gz;

namespace {

std::string put(const std::string& path, const std::string& data) {
    write_file_atomic(path, data);
    return path;
}

// A file of `size` bytes that starts with `head`: the rest is a hole, so it costs no disk.
std::string put_sparse(const std::string& path, const std::string& head, off_t size) {
    put(path, head);
    REQUIRE(truncate(path.c_str(), size) == 0);
    return path;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// What a load did in a child process: the error it threw and how far its peak resident memory rose.
// A forked child's peak starts at its current size, so the peaks of earlier tests cannot hide it.
struct ChildLoad {
    std::string error;
    long long peak_rise_bytes = -1;
};

ChildLoad load_in_child(const std::function<void()>& load) {
    const ChildRun child = run_in_child([&](int fd) {
        rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        const std::string error = error_of(load);
        getrusage(RUSAGE_SELF, &after);
        const std::string report = std::to_string((after.ru_maxrss - before.ru_maxrss) * 1024LL) + "\n" + error;
        if (write(fd, report.data(), report.size()) != (ssize_t)report.size()) _exit(1);
    });
    REQUIRE((WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0));
    const size_t eol = child.output.find('\n');
    REQUIRE(eol != std::string::npos);
    ChildLoad r;
    r.peak_rise_bytes = std::stoll(child.output.substr(0, eol));
    r.error = child.output.substr(eol + 1);
    return r;
}

constexpr long long kMB = 1 << 20;

// Sets input_limits().max_dataset_bytes for one scope.
struct DatasetByteLimit {
    uint64_t saved;
    explicit DatasetByteLimit(uint64_t bytes) : saved(input_limits().max_dataset_bytes) {
        input_limits().max_dataset_bytes = bytes;
    }
    ~DatasetByteLimit() { input_limits().max_dataset_bytes = saved; }
};

void check_same(const Dataset& a, const Dataset& b) {
    CHECK(a.name == b.name);
    CHECK(a.channels == b.channels);
    CHECK(a.height == b.height);
    CHECK(a.width == b.width);
    CHECK(a.num_classes == b.num_classes);
    CHECK(a.labels == b.labels);
    CHECK(a.pixels == b.pixels);
}

}  // namespace

TEST_CASE("dataset limits: a gzip IDX holding far more than its header promises is refused without inflating it") {
    const std::string d = test::temp_dir("idx-bomb");
    const std::string labels = put(path_join(d, "lb"), idx_labels(10, 10));
    const std::string images = write_gz(path_join(d, "im.gz"), test::idx_image_header(10, 28, 28), 64 * kMB);
    const ChildLoad r = load_in_child([&] { load_idx_pair(images, labels, "t"); });
    CHECK(r.error.find(images + ": the file holds more data than its header promises (10 images of 28x28 (7840 bytes))") == 0);
    CHECK(r.peak_rise_bytes < 8 * kMB);

    // the same for labels
    const std::string images_ok = put(path_join(d, "im"), idx_images(10, 28, 28));
    const std::string label_bomb = write_gz(path_join(d, "lb.gz"), test::idx_label_header(10), 64 * kMB);
    const ChildLoad l = load_in_child([&] { load_idx_pair(images_ok, label_bomb, "t"); });
    CHECK(l.error.find(label_bomb + ": the file holds more data than its header promises (10 labels (10 bytes))") == 0);
    CHECK(l.peak_rise_bytes < 8 * kMB);
}

TEST_CASE("dataset limits: a tiny gzip whose header promises terabytes is refused before inflating") {
    const std::string d = test::temp_dir("idx-promise");
    // The header in one gzip member, then a corrupt member: inflating past the header would say "corrupt".
    const std::string corrupt_member = std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + std::string(60, 'x');
    auto promising = [&](const char* name, const std::string& header) {
        const std::string path = write_gz(path_join(d, name), header);
        put(path, read_file(path) + corrupt_member);
        return path;
    };
    const std::string images = promising("im.gz", test::idx_image_header(1u << 31, 4096, 4096));
    const std::string labels = put(path_join(d, "lb"), idx_labels(5, 3));
    const std::string size = std::to_string(read_file(images).size());
    const std::string expected = images + ": the header promises 2147483648 images of 4096x4096 (36028797018963968 bytes), more than a " +
                                 size + "-byte gzip file can hold";
    CHECK(error_of([&] { load_idx_pair(images, labels, "t"); }) == expected);
    CHECK(error_of([&] { parse_idx_pair(read_file(images), read_file(labels), images, labels, "t"); }) == expected);

    const std::string image_ok = write_gz(path_join(d, "im5.gz"), idx_images(5, 3, 4));
    const std::string label_bomb = promising("lb.gz", test::idx_label_header(0xffffffffu));
    CHECK(error_of([&] { load_idx_pair(image_ok, label_bomb, "t"); })
              .find(label_bomb + ": the header promises 4294967295 labels (4294967295 bytes), more than a ") == 0);
}

TEST_CASE("dataset limits: a header that promises more than its file holds is an error, with no allocation for the promise") {
    const std::string d = test::temp_dir("idx-short");
    const std::string labels = put(path_join(d, "lb"), idx_labels(5, 3));
    // the gzip stream is whole but its data stops short of the promise
    const std::string short_gz = write_gz(path_join(d, "short.gz"), idx_images(5, 3, 4).substr(0, 30));
    CHECK(error_of([&] { load_idx_pair(short_gz, labels, "t"); }) ==
          short_gz + ": 14 bytes after the header, but the header promises 5 images of 3x4 (60 bytes)");
    // the gzip stream itself is cut
    const std::string whole = read_file(write_gz(path_join(d, "whole.gz"), idx_images(5, 3, 4)));
    const std::string cut = put(path_join(d, "cut.gz"), whole.substr(0, whole.size() - 12));
    CHECK(error_of([&] { load_idx_pair(cut, labels, "t"); }) == cut + ": corrupt gzip data (unexpected end of file)");
    // labels
    const std::string images = put(path_join(d, "im"), idx_images(5, 3, 4));
    const std::string short_labels = write_gz(path_join(d, "lb.gz"), test::idx_label_header(5) + "ab");
    CHECK(error_of([&] { load_idx_pair(images, short_labels, "t"); }) ==
          short_labels + ": 2 bytes after the header, but the header promises 5 labels (5 bytes)");

    // 512 MB promised by 600 KB of stored (uncompressed) gzip: plausible for its size, but false
    const std::string liar = write_gz(path_join(d, "liar.gz"), test::idx_image_header(32, 4096, 4096), 600 * 1024, "wb0");
    const std::string labels32 = put(path_join(d, "lb32"), idx_labels(32, 3));
    const ChildLoad r = load_in_child([&] { load_idx_pair(liar, labels32, "t"); });
    CHECK(r.error == liar + ": 614400 bytes after the header, but the header promises 32 images of 4096x4096 (536870912 bytes)");
    CHECK(r.peak_rise_bytes < 16 * kMB);
}

TEST_CASE("dataset limits: a dataset over max_dataset_bytes is refused") {
    const std::string d = test::temp_dir("idx-limit");
    const std::string plain = put(path_join(d, "im"), idx_images(5, 3, 4));
    const std::string gz = write_gz(path_join(d, "im.gz"), idx_images(5, 3, 4));
    const std::string labels = put(path_join(d, "lb"), idx_labels(5, 3));
    const std::string over = ": the header promises 5 images of 3x4 (60 bytes), more than the 59 bytes an in-memory dataset may take";
    {
        DatasetByteLimit limit(59);
        CHECK(error_of([&] { load_idx_pair(plain, labels, "t"); }) == plain + over);
        CHECK(error_of([&] { parse_idx_pair(read_file(gz), read_file(labels), gz, labels, "t"); }) == gz + over);
        const std::string gz_size = std::to_string(read_file(gz).size());
        CHECK(error_of([&] { load_idx_pair(gz, labels, "t"); }) ==
              gz + ": a " + gz_size + "-byte gzip file is more than the 59 bytes an in-memory dataset may take");
    }
    {
        DatasetByteLimit limit(60);
        CHECK(load_idx_pair(plain, labels, "t").size() == 5);
        CHECK(parse_idx_pair(read_file(gz), read_file(labels), gz, labels, "t").size() == 5);
    }
    CHECK(input_limits().max_dataset_bytes == 0);
}

TEST_CASE("dataset limits: a plain IDX file whose size differs from its header is refused without being read") {
    const std::string d = test::temp_dir("idx-plain");
    const std::string labels = put(path_join(d, "lb"), idx_labels(10, 10));
    const std::string images = put_sparse(path_join(d, "im"), test::idx_image_header(10, 28, 28), 256 * kMB);
    const ChildLoad r = load_in_child([&] { load_idx_pair(images, labels, "t"); });
    CHECK(r.error == images + ": 268435440 bytes after the header, but the header promises 10 images of 28x28 (7840 bytes)");
    CHECK(r.peak_rise_bytes < 8 * kMB);
}

TEST_CASE("dataset limits: CIFAR-10 batches of a bad size or over the limit are refused before they are read") {
    const std::string d = test::temp_dir("cifar-limits");
    std::string two_records;
    for (int r = 0; r < 2; r++) two_records += (char)r + std::string(3072, (char)r);
    for (int i = 1; i <= 5; i++) put(path_join(d, "data_batch_" + std::to_string(i) + ".bin"), two_records);
    const std::string test_batch = put(path_join(d, "test_batch.bin"), two_records);
    DatasetOptions o;
    o.kind = "cifar10";
    o.path = d;
    {
        DatasetByteLimit limit(9 * 3073);
        CHECK(error_of([&] { load_dataset(o); }) == path_join(d, "data_batch_5.bin") +
                                                       ": with this batch the CIFAR-10 data takes 30730 bytes, more than "
                                                       "the 27657 bytes an in-memory dataset may take");
        Dataset into;
        parse_cifar_batch(two_records, "a", into);
        parse_cifar_batch(two_records, "b", into);
        CHECK(error_of([&] { parse_cifar_batch(two_records + two_records + two_records, "c", into); }).find("c: with this batch") == 0);
        CHECK(into.size() == 4);  // unchanged by the refused batch
    }
    CHECK(load_dataset(o).train.size() == 10);

    put_sparse(test_batch, two_records, 100000 * 3073 + 1);
    const ChildLoad r = load_in_child([&] { load_dataset(o); });
    CHECK(r.error == test_batch + ": 307300001 bytes is not a whole number of CIFAR-10 records (3073 bytes each)");
    CHECK(r.peak_rise_bytes < 8 * kMB);
}

TEST_CASE("dataset limits: parse_idx_pair and parse_cifar_batch give what the file loaders give") {
    const std::string d = test::temp_dir("parse-same");
    const std::string im = idx_images(7, 5, 6), lb = idx_labels(7, 4);
    const std::string plain_im = put(path_join(d, "im"), im), plain_lb = put(path_join(d, "lb"), lb);
    const std::string gz_im = write_gz(path_join(d, "im.gz"), im), gz_lb = write_gz(path_join(d, "lb.gz"), lb);
    // two members, as gzread reads them
    const std::string multi_im = put(path_join(d, "multi.gz"), read_file(write_gz(path_join(d, "a.gz"), im.substr(0, 20))) +
                                                                  read_file(write_gz(path_join(d, "b.gz"), im.substr(20))));
    const Dataset reference = load_idx_pair(plain_im, plain_lb, "t");
    CHECK(reference.size() == 7);
    CHECK(reference.num_classes == 4);
    CHECK(reference.pixels.size() == im.size() - 16);
    for (const auto& files : {std::make_pair(plain_im, plain_lb), std::make_pair(gz_im, gz_lb), std::make_pair(multi_im, gz_lb)}) {
        CAPTURE(files.first);
        check_same(load_idx_pair(files.first, files.second, "t"), reference);
        check_same(parse_idx_pair(read_file(files.first), read_file(files.second), files.first, files.second, "t"), reference);
    }

    std::string record = std::string(1, '\7');
    for (int i = 0; i < 3072; i++) record += (char)(i % 251);
    for (int i = 1; i <= 5; i++) put(path_join(d, "data_batch_" + std::to_string(i) + ".bin"), record);
    put(path_join(d, "test_batch.bin"), record);
    DatasetOptions o;
    o.kind = "cifar10";
    o.path = d;
    const DataSplits s = load_dataset(o);
    Dataset parsed;
    parsed.name = "cifar10 test";
    parse_cifar_batch(record, "test_batch.bin", parsed);
    check_same(parsed, s.test);
}
