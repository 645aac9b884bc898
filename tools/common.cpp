#include <sys/resource.h>

#include <cstdio>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/check.h"
#include "core/cpu.h"
#include "core/limits.h"
#include "nn/parallel.h"
#include "convnextv2/checkpoint.h"
#include "convnextv2/model.h"
#include "simd/kernels.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace cnx {

double peak_rss_mb() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

std::string runtime_summary() {
    const dnnl_version_t* v = dnnl_version();
    return strfmt("kernels %s, oneDNN %d.%d.%d, %d threads", isa_name(kernels().isa), v->major, v->minor, v->patch,
                  num_threads());
}

std::string runtime_details(const char* gemm_impl) {
    return strfmt("cpu: %s\nkernels: %s\noneDNN matmul: %s\n", cpu_features_string().c_str(), kernel_report().c_str(),
                  gemm_impl);
}

int apply_threads(int64_t requested, bool quiet) {
    // More threads than CPUs only add per-thread buffers and contention.
    const int cpus = usable_cpus();
    const int64_t want = requested > 0 ? requested : num_threads();
    const int used = set_num_threads((int)std::min<int64_t>(want, cpus));
    if (want > used && !quiet)
        std::fprintf(stderr, "note: %lld threads asked for, but this process may use %d CPUs; using %d\n",
                     (long long)want, cpus, used);
    return used;
}

void max_image_pixels_flag(Args& a) {
    input_limits().max_image_pixels =
        a.integer("max-image-pixels", input_limits().max_image_pixels,
                  "refuse images with more pixels, before decoding (a decompression-bomb guard)", 1, INT64_MAX);
}

ModelConfig architecture_flags(Args& a) {
    ModelConfig cfg = model_config(a.str("model", "atto", "architecture: atto femto pico nano tiny base large huge"));
    cfg.input_size = (int)a.integer("input-size", 224, "input side (a multiple of 8 x stem stride)", 1, 8192);
    cfg.stem_stride = (int)a.integer("stem-stride", 4, "stem stride: 4, 2 or 1", 1, 4);
    cfg.num_classes = (int)a.integer("classes", 1000, "number of classes", 1, 1000000);
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

void check_model_fits(const ModelConfig& cfg, int64_t batch, const ModelOptions& model, int param_copies) {
    const uint64_t have = physical_memory_bytes();
    const double need = (double)ConvNeXtV2::planned_bytes(cfg, batch, model) +
                        (double)make_param_layout(cfg).total * sizeof(float) * param_copies;
    if (have && need > (double)have)
        fail("a %s model at %dx%d input with a batch of %lld needs %.1f GB of memory, more than this machine's %.1f GB "
             "(use a smaller batch or input size)",
             cfg.name.c_str(), cfg.input_size, cfg.input_size, (long long)batch, need / 1e9, (double)have / 1e9);
}

Transform eval_transform(const ModelConfig& cfg, bool small_images) {
    Transform t;
    t.size = cfg.input_size;
    t.channels = cfg.in_chans;
    t.mean = cfg.mean;
    t.std = cfg.std;
    t.small_images = small_images;
    return t;
}

}  // namespace cnx
