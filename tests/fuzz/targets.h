// The libFuzzer targets, one per parser of untrusted input. Each takes any bytes: malformed input
// must end in a cnx::Error (caught here), never a crash, a hang, undefined behaviour or a large
// allocation. The same functions replay the committed corpus in the test suite.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cnx {
namespace fuzz {

// Lowers input_limits() so that no accepted input can ask for more than a few hundred MB (the fuzzer
// runs with -malloc_limit_mb=1024). Called by every target.
void set_fuzz_limits();

int safetensors(const uint8_t* data, size_t size);  // header, tensors, config inference, parameter load
int json(const uint8_t* data, size_t size);         // JSON (round trip), model config
int idx(const uint8_t* data, size_t size);          // IDX image and label files, gzip or plain
int cifar(const uint8_t* data, size_t size);        // CIFAR-10 binary batches
int image(const uint8_t* data, size_t size);        // PNG and JPEG decoding
int state(const uint8_t* data, size_t size);        // a run's state file: recipe and run state
int torch(const uint8_t* data, size_t size);        // a torch.save file (zip, pickle, tensors, layouts), or a bare pickle

struct Target {
    const char* name;
    int (*run)(const uint8_t*, size_t);
};
// Every target, by name (the corpus folders are named so).
extern const Target kTargets[7];

}  // namespace fuzz
}  // namespace cnx
