// Depthwise 7x7 convolution layer over NHWC activations [N, H, W, C], threaded over a list of output
// regions. The dense plan covers every image in bands of rows; a masked plan (FCMAE) lists only the
// visible tiles, so fully masked tiles cost nothing. Weights [7][7][C], bias [C].
#pragma once

#include <cstdint>
#include <vector>

#include "nn/parallel.h"
#include "nn/tokens.h"

namespace cnx {

class DwConv {
public:
    // Plans the dense region list (all of every image).
    void init(int64_t N, int64_t H, int64_t W, int64_t C);
    // Replaces the region list (e.g. the visible tiles of this step's mask).
    void set_regions(const std::vector<TileRegion>& regions) { regions_ = regions; }
    const std::vector<TileRegion>& regions() const { return regions_; }

    // dst written at the regions.
    void forward(float* dst, const float* src, const float* wei, const float* bias) const;
    // d_src += at the regions.
    void backward_data(float* d_src, const float* d_dst, const float* wei) const;
    // d_wei, d_bias accumulated over the regions.
    void backward_weights(float* d_wei, float* d_bias, const float* d_dst, const float* src);

private:
    int64_t N_ = 0, H_ = 0, W_ = 0, C_ = 0;
    std::vector<TileRegion> regions_;
    GradPartials partials_;  // [49*C weights | C bias] per thread
};

}  // namespace cnx
