// What the benchmark files share: the layer shapes of bench/shapes/*.txt, inputs, counters, the
// active sets of random FCMAE masks, and how a benchmark is registered.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convnextv2/mask.h"
#include "core/arena.h"

namespace cnx {
namespace bench {

struct Shape {
    std::string model, name;
    int64_t N, H, W, C, tile;
    int64_t tokens() const { return N * H * W; }
};

// Every layer shape of atto and femto (bench/shapes/convnextv2_<model>.txt, run from the project root).
std::vector<Shape> load_shapes();
// n values uniform in [-1, 1) from a seed.
FloatBuffer random_buffer(int64_t n, uint64_t seed);
// The FLOPS and bytes counters, as rates.
void set_counters(benchmark::State& st, double flops, double bytes);
// The active set of random FCMAE masks at this stage (keep floor(L * (1 - ratio)) patches): the
// depthwise work list, or neighbour lists for tiny tiles, as the masked encoder uses them.
ActiveSet active_set(const Shape& s, double ratio, uint64_t seed);
// The multiply-adds a depthwise 7x7 must do per channel over an active set: (output, input) pairs of
// visible tokens within reach and inside the image (zero padding and masked sites contribute none).
int64_t dw_pairs(const ActiveSet& as);

// Registers a benchmark under `name` (manual: it sets its own iteration time).
using Register = std::function<void(const std::string& name, std::function<void(benchmark::State&)> fn, bool manual)>;
// oneDNN's depthwise convolution and matmul rows (bench/bench_onednn.cpp).
void register_onednn_benchmarks(const std::vector<Shape>& shapes, const Register& reg);

}  // namespace bench
}  // namespace cnx
