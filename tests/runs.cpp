#include "tests/runs.h"

#include "core/fileio.h"
#include "core/safetensors.h"

namespace cnx {
namespace test {

TrainOptions tiny_run(const std::string& out) {
    TrainOptions o;
    o.model = "atto";
    o.data.kind = "synthetic";
    o.data.synthetic_train = 384;
    o.data.synthetic_test = 96;
    o.data.synthetic_size = 16;
    o.data.synthetic_channels = 3;
    o.data.synthetic_classes = 4;
    o.input_size = 16;
    o.stem_stride = 2;
    o.batch = 32;
    o.epochs = 2;
    o.lr = 2e-3;
    o.warmup_epochs = 0.2;
    o.drop_path = 0.1;  // exercise the random streams
    o.ema = 0.9;
    o.eval_batch = 48;
    o.out = out;
    o.quiet = true;
    o.seed = 7;
    return o;
}

TrainOptions tiny_pretrain(const std::string& out) {
    TrainOptions o = tiny_run(out);
    o.task = "pretrain";
    o.data.synthetic_size = 32;
    o.input_size = 32;
    o.stem_stride = 1;  // 8-pixel patches: a 4x4 grid
    o.batch = 16;
    o.epochs = 2;
    o.lr = 1e-3;
    o.beta2 = 0.95;
    o.drop_path = 0;
    o.smoothing = 0;
    o.ema = 0;
    o.mask_ratio = 0.6;
    return o;
}

std::string weights_bytes(const std::string& dir, const char* file) {
    SafetensorsReader f(path_join(dir, file));
    std::string all;
    for (const auto& e : f.entries()) {
        std::vector<float> v = f.read_f32(e.name);
        all.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    }
    return all;
}

}  // namespace test
}  // namespace cnx
