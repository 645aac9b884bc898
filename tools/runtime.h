// What a run needs from the machine, outside the command line: threads, a memory check before a model
// is built, and the lines that say what runs (kernels, oneDNN, threads).
#pragma once

#include <cstdint>
#include <string>

#include "convnextv2/config.h"
#include "convnextv2/model.h"

namespace cnx {

// Peak resident set size of this process, in MB.
double peak_rss_mb();
// "kernels avx512, oneDNN 2.6.3, 2 threads" for logs.
std::string runtime_summary();
// The --verbose lines: CPU features, every kernel variant in use, the oneDNN GEMM implementation.
std::string runtime_details(const char* gemm_impl);

// Sets the thread count (0: the OpenMP default); more than the CPUs this process may use is capped,
// with a note on stderr unless `quiet`. Returns the count in use.
int apply_threads(int64_t requested, bool quiet = false);

// Refuses, with one line, a model whose activations and `param_copies` copies of the parameters
// would not fit in this machine's memory, before anything is allocated.
void check_model_fits(const ModelConfig& cfg, int64_t batch, const ModelOptions& model, int param_copies);

}  // namespace cnx
