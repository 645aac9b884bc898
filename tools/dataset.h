// Datasets for training and evaluation:
//   fashion-mnist  IDX files (gzip or plain) from Debian's dataset-fashion-mnist package
//   idx            any IDX image/label pair (MNIST layout), e.g. MNIST or KMNIST
//   cifar10        CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)
//   folder         an image folder: one sub-folder per class of PNG/JPEG files; with train/ and
//                  val/ (or test/) sub-folders, or a deterministic hold-out split
//   synthetic      generated images with a learnable class pattern (tests, benchmarks)
// Small fixed-size sets live in memory as 8-bit pixels; folders are decoded when a batch needs them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/image.h"

namespace cnx {

struct Dataset {
    std::string name;                  // e.g. "fashion-mnist train"
    int channels = 1;
    int height = 0, width = 0;         // fixed size of in-memory images (0 for folders)
    int num_classes = 0;
    std::vector<std::string> class_names;
    std::vector<uint8_t> pixels;       // in-memory images [n][height][width][channels]
    std::vector<std::string> files;    // folder datasets: one path per sample
    std::vector<int32_t> labels;
    bool small_images = true;          // augmentation: pad-crop + flip (else random-resized-crop + flip)

    int64_t size() const { return (int64_t)labels.size(); }
    Image image(int64_t i) const;
};

struct DatasetOptions {
    std::string kind = "fashion-mnist";  // fashion-mnist, idx, cifar10, folder, synthetic
    std::string path;                    // folder (default for fashion-mnist: Debian's location)
    std::string train_images, train_labels, test_images, test_labels;  // idx files (override path)
    int folder_channels = 3;             // channels for folder images
    float val_split = 0.1f;              // folder without train/val: share held out for testing
    int64_t synthetic_train = 2048, synthetic_test = 512;
    int synthetic_size = 32, synthetic_channels = 3, synthetic_classes = 10;
    uint64_t seed = 0;
};

struct DataSplits {
    Dataset train, test;
    std::vector<float> mean, std;  // per-channel normalisation to use with this data
};

const char* default_fashion_mnist_dir();

// The PNG and JPEG files under a folder and its subfolders (hidden entries skipped), sorted per folder.
std::vector<std::string> image_files_in(const std::string& dir);

// Loads both splits; throws cnx::Error with one line naming the missing or corrupt file.
DataSplits load_dataset(const DatasetOptions& opt);

// Reads one IDX image file ([n][h][w] u8, gzip or plain) and its label file, through parse_idx_pair.
// A plain file's header is checked against its size before the file is read, and a gzip file larger
// than dataset_byte_limit() (core/limits.h) is refused unread.
Dataset load_idx_pair(const std::string& images, const std::string& labels, const std::string& name);

// Parses an IDX image/label pair held in memory; each is a gzip stream (of one or more members, as
// gzread reads them) or plain IDX data. Both headers are checked before anything is inflated: magic,
// image size 1..4096, at least one image, as many labels as images, and the promised bytes within
// what the stored bytes can hold and within dataset_byte_limit(). Inflating stops one byte past the
// promise, and memory grows with the data actually inflated, so a lying header cannot make it
// allocate. images_name and labels_name name the inputs in errors; `name` names the Dataset.
Dataset parse_idx_pair(const std::string& image_bytes, const std::string& label_bytes, const std::string& images_name,
                       const std::string& labels_name, const std::string& name);

// Appends the records of one CIFAR-10 binary batch held in memory (each 1 label byte and 3072 pixel
// bytes in R, G, B planes) to `into` as interleaved 32x32 RGB, and gives `into` CIFAR-10's shape.
// The batch must be a non-zero whole number of records, and `into` with it within dataset_byte_limit().
void parse_cifar_batch(const std::string& bytes, const std::string& name, Dataset& into);
// CIFAR-10 batch files into one dataset; every file's size is checked before any is read.
Dataset load_cifar_batches(const std::vector<std::string>& files, const std::string& name);

// Per-channel mean and std of an in-memory dataset's pixels in [0, 1].
void dataset_stats(const Dataset& d, std::vector<float>& mean, std::vector<float>& std);

}  // namespace cnx
