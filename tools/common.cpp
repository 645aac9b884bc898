// Flag groups and checkpoint loading shared by several subcommands.
#include <cstdlib>

#include "convnextv2/checkpoint.h"
#include "core/check.h"
#include "core/limits.h"
#include "nn/convert.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cnx {

void max_image_pixels_flag(Args& a) {
    input_limits().max_image_pixels =
        a.integer("max-image-pixels", input_limits().max_image_pixels,
                  "refuse images with more pixels, before decoding (a decompression-bomb guard)", 1, INT64_MAX);
}

std::string precision_flag(Args& a) {
    return a.str("precision", "fp32", "fp32, or bf16: GEMMs on bf16 inputs with fp32 accumulation, fp32 master weights");
}

ResizeFlags resize_flags(Args& a) {
    ResizeFlags r;
    r.crop_pct = a.number("crop-pct", 0, "image files: resize the shorter side to input size / crop-pct, take the centre crop "
                          "(default: the checkpoint's, else 0.875)", 0, 1);
    r.interpolation = a.str("interpolation", "", "image files: bicubic, bilinear or nearest, as Pillow (default: the checkpoint's, else bicubic)");
    if (!r.interpolation.empty()) parse_interpolation(r.interpolation);
    return r;
}

void apply_resize_flags(const ResizeFlags& r, const SafetensorsReader& f, Transform& t) {
    double crop_pct = r.crop_pct;
    if (crop_pct == 0) {
        const std::string saved = f.meta(kEvalCropPctKey, "0.875");
        char* end = nullptr;
        crop_pct = std::strtod(saved.c_str(), &end);
        if (end == saved.c_str() || *end || !(crop_pct >= 0.05 && crop_pct <= 1))
            fail("%s: metadata %s = '%s' is not a crop share in [0.05, 1]", f.path().c_str(), kEvalCropPctKey, saved.c_str());
    }
    t.crop_pct = (float)crop_pct;
    t.interpolation = parse_interpolation(r.interpolation.empty() ? f.meta(kEvalInterpolationKey, "bicubic") : r.interpolation);
}

ModelConfig architecture_flags(Args& a) {
    ModelConfig cfg = model_config(a.str("model", "atto", "architecture: atto femto pico nano tiny base large huge"));
    cfg.input_size = (int)a.integer("input-size", 224, "input side (a multiple of 8 x stem stride)", 1, kMaxInputSize);
    cfg.stem_stride = (int)a.integer("stem-stride", 4, "stem stride: 4, 2 or 1", 1, 4);
    cfg.num_classes = (int)a.integer("classes", 1000, "number of classes", 1, kMaxClasses);
    cfg.in_chans = (int)a.integer("in-chans", 3, "input channels: 1 or 3", 1, 3);
    if (cfg.in_chans == 1) {
        cfg.mean = {0.5f};
        cfg.std = {0.5f};
    }
    return cfg;
}

ModelConfig checkpoint_config(const SafetensorsReader& f, int64_t input_size) {
    ModelConfig cfg = read_config(f);
    if (input_size > 0) cfg.input_size = (int)input_size;
    cfg.validate();
    check_params(f, make_param_layout(cfg));
    return cfg;
}

static ModelOptions inference_options(const ModelConfig& cfg, int64_t batch, Precision precision) {
    ModelOptions mo{false};
    mo.precision = precision;
    check_model_fits(cfg, batch, mo, 1);
    return mo;
}

InferenceModel::InferenceModel(const SafetensorsReader& f, const ModelConfig& cfg, int64_t batch, Precision precision)
    : net(cfg, batch, inference_options(cfg, batch, precision)), params((size_t)net.layout().total) {
    load_params(f, net.layout(), params.data());
    if (precision == Precision::kBf16) params16 = bf16_copy(params.data(), (int64_t)params.size());
}

}  // namespace cnx
