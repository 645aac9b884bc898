#include "bench/bench_common.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/rng.h"
#include "simd/dwconv/dwconv_algo.h"

namespace cnx {
namespace bench {

std::vector<Shape> load_shapes() {
    std::vector<Shape> out;
    for (const char* model : {"atto", "femto"}) {
        std::string path = std::string("bench/shapes/convnextv2_") + model + ".txt";
        std::ifstream f(path);
        if (!f) fail("%s: shapes file not found (run from the project root)", path.c_str());
        std::string line;
        while (std::getline(f, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream s(line);
            Shape sh;
            sh.model = model;
            if (!(s >> sh.name >> sh.N >> sh.H >> sh.W >> sh.C >> sh.tile)) fail("%s: bad line '%s'", path.c_str(), line.c_str());
            out.push_back(sh);
        }
    }
    return out;
}

FloatBuffer random_buffer(int64_t n, uint64_t seed) {
    FloatBuffer b((size_t)n);
    Rng r(stream_key(seed, 31));
    for (int64_t i = 0; i < n; i++) b[(size_t)i] = r.uniform() * 2.0f - 1.0f;
    return b;
}

void set_counters(benchmark::State& st, double flops, double bytes) {
    st.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["bytes"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

ActiveSet active_set(const Shape& s, double ratio, uint64_t seed) {
    const int64_t grid = s.H / s.tile, L = grid * grid;
    std::vector<uint8_t> mask((size_t)(s.N * L));
    make_mask(mask.data(), s.N, L, ratio, seed);
    ActiveSet as;
    as.build(mask.data(), s.N, grid, s.tile, s.C);
    return as;
}

int64_t dw_pairs(const ActiveSet& as) {
    std::vector<uint8_t> visible((size_t)(as.N * as.H * as.W), 0);
    for (int64_t t : as.token) visible[(size_t)t] = 1;
    int64_t pairs = 0;
    for (int64_t t : as.token) {
        const int64_t n = t / (as.H * as.W), h = (t / as.W) % as.H, w = t % as.W;
        for (int64_t hh = std::max<int64_t>(0, h - kDwPad); hh <= std::min(as.H - 1, h + kDwPad); hh++)
            for (int64_t ww = std::max<int64_t>(0, w - kDwPad); ww <= std::min(as.W - 1, w + kDwPad); ww++)
                pairs += visible[(size_t)((n * as.H + hh) * as.W + ww)];
    }
    return pairs;
}

}  // namespace bench
}  // namespace cnx
