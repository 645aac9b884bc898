// Limits on what untrusted input may make the program allocate or do, checked against what a file
// declares before anything is decoded or inflated (in the spirit of Pillow's decompression-bomb
// guard and libpng's user limits). Process-wide: the CLI raises them from flags, the fuzz targets
// lower them.
#pragma once

#include <cstdint>

namespace cnx {

struct InputLimits {
    // Images with more pixels than this are refused before decoding; above half of it a warning is
    // printed (Pillow: 89,478,485 pixels warn, twice that raises). --max-image-pixels sets it.
    int64_t max_image_pixels = 178956970;
    // Bytes an in-memory dataset (IDX, CIFAR) may hold once decoded; 0: the machine's physical memory.
    uint64_t max_dataset_bytes = 0;
    // Tensors a safetensors header may list (a ConvNeXt V2-huge training state has about 2,200).
    int64_t max_safetensors_entries = 1 << 16;
};

InputLimits& input_limits();

// max_dataset_bytes, or the machine's physical memory when it is 0.
uint64_t dataset_byte_limit();

// Physical memory of the machine in bytes (0 when unknown).
uint64_t physical_memory_bytes();

// Stores a * b in *out (when out is not null); false when either is negative or the product overflows.
bool checked_mul(int64_t a, int64_t b, int64_t* out);

}  // namespace cnx
