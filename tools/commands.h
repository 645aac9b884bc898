// The subcommands of build/convnextv2; each parses its own flags and returns the exit status. And
// the flag groups several of them share.
#pragma once

#include <string>
#include <vector>

#include "convnextv2/config.h"
#include "convnextv2/model.h"
#include "core/arena.h"
#include "core/safetensors.h"
#include "tools/augment.h"
#include "tools/resample.h"
#include "tools/runtime.h"

namespace cnx {

class Args;

using Argv = std::vector<std::string>;

int cmd_train(const Argv& argv);
int cmd_pretrain(const Argv& argv);
int cmd_eval(const Argv& argv);
int cmd_predict(const Argv& argv);
int cmd_info(const Argv& argv);
int cmd_bench(const Argv& argv);
int cmd_convert(const Argv& argv);

// Declares --max-image-pixels and sets input_limits() from it.
void max_image_pixels_flag(Args& a);

// Declares --precision (fp32 or bf16) and returns its value as given (checked by parse_precision).
std::string precision_flag(Args& a);

// --crop-pct and --interpolation of eval and predict: how image files reach the input size. By
// default a checkpoint's own (our training writes how it evaluated), else the paper's 0.875, bicubic.
struct ResizeFlags {
    double crop_pct = 0;        // 0: the checkpoint's
    std::string interpolation;  // "": the checkpoint's
};
ResizeFlags resize_flags(Args& a);
void apply_resize_flags(const ResizeFlags& r, const SafetensorsReader& f, Transform& t);

// Declares --model, --input-size, --stem-stride, --classes and --in-chans and returns that config
// (validate it after Args::finish).
ModelConfig architecture_flags(Args& a);
// The config of a checkpoint, with the input size overridden when `input_size` > 0; validated, and
// every tensor of its layout checked to be in the file with its shape (nothing is built yet).
ModelConfig checkpoint_config(const SafetensorsReader& f, int64_t input_size);

// An inference model of a checkpoint (eval, predict): checked to fit in memory, then built in the
// given precision with the checkpoint's weights.
struct InferenceModel {
    ConvNeXtV2 net;
    FloatBuffer params;
    std::vector<bf16> params16;  // bf16 precision: params rounded once, for the GEMMs
    InferenceModel(const SafetensorsReader& f, const ModelConfig& cfg, int64_t batch, Precision precision);
    Weights weights() const { return Weights(params.data(), params16.empty() ? nullptr : params16.data()); }
};

}  // namespace cnx
