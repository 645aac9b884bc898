// The subcommands of build/convnextv2; each parses its own flags and returns the exit status.
#pragma once

#include <string>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/model.h"
#include "core/safetensors.h"
#include "tools/augment.h"

namespace cnx {

class Args;

using Argv = std::vector<std::string>;

int cmd_train(const Argv& argv);
int cmd_pretrain(const Argv& argv);
int cmd_eval(const Argv& argv);
int cmd_predict(const Argv& argv);
int cmd_info(const Argv& argv);
int cmd_bench(const Argv& argv);

// Peak resident set size of this process, in MB.
double peak_rss_mb();
// "kernels avx512, oneDNN 2.6.3, 2 threads" for logs.
std::string runtime_summary();
// The --verbose lines: CPU features, every kernel variant in use, the oneDNN GEMM implementation.
std::string runtime_details(const char* gemm_impl);

// Sets the thread count of --threads (0: the OpenMP default); more than the CPUs this process may use
// is capped, with a note on stderr unless `quiet`. Returns the count in use.
int apply_threads(int64_t requested, bool quiet = false);

// Declares --max-image-pixels and sets input_limits() from it.
void max_image_pixels_flag(Args& a);

// Declares --model, --input-size, --stem-stride, --classes and --in-chans and returns that config
// (validate it after Args::finish).
ModelConfig architecture_flags(Args& a);
// The config of a checkpoint, with the input size overridden when `input_size` > 0; validated, and
// every tensor of its layout checked to be in the file with its shape (nothing is built yet).
ModelConfig checkpoint_config(const SafetensorsReader& f, int64_t input_size);
// Refuses, with one line, a model whose activations and `param_copies` copies of the parameters
// would not fit in this machine's memory, before anything is allocated.
void check_model_fits(const ModelConfig& cfg, int64_t batch, const ModelOptions& model, int param_copies);
// The evaluation transform of a model (its input size, channels and normalisation).
Transform eval_transform(const ModelConfig& cfg, bool small_images);

}  // namespace cnx
