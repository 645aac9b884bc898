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

// Loads both splits; throws cnx::Error with one line naming the missing or corrupt file.
DataSplits load_dataset(const DatasetOptions& opt);

// Reads one IDX image file ([n][h][w] u8, gzip or plain) and its label file.
Dataset load_idx_pair(const std::string& images, const std::string& labels, const std::string& name);

// Per-channel mean and std of an in-memory dataset's pixels in [0, 1].
void dataset_stats(const Dataset& d, std::vector<float>& mean, std::vector<float>& std);

}  // namespace cnx
