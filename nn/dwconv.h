// Depthwise 7x7 convolution layer over NHWC activations [N, H, W, C], threaded over a work list of
// output regions, each with the input window it may read (simd/dwconv/dwconv.h). The dense plan
// covers every image in bands of rows; a masked plan (FCMAE) lists only the visible tiles, each with
// a window that leaves out masked neighbours, so fully masked tiles cost nothing.
// Weights [7][7][C], bias [C].
#pragma once

#include <cstdint>
#include <vector>

#include "nn/parallel.h"
#include "nn/tokens.h"
#include "simd/dwconv/dwconv.h"

namespace cnx {

// One unit of depthwise work: an output region of image n and the input window it reads.
struct DwTile {
    int32_t n;
    int32_t h0, h1, w0, w1;      // output region
    int32_t ih0, ih1, iw0, iw1;  // input window (within the image)
    int32_t tw0 = -1, tw1 = -1;  // columns of the top and bottom bands (DwGeom), -1: [iw0, iw1)
    int32_t bw0 = -1, bw1 = -1;
};

// The kernel geometry of a tile of an [H, W, C] image.
inline DwGeom dw_tile_geom(const DwTile& t, int64_t H, int64_t W, int64_t C) {
    return DwGeom{H, W, C, t.h0, t.h1, t.w0, t.w1, t.ih0, t.ih1, t.iw0, t.iw1, t.tw0, t.tw1, t.bw0, t.bw1};
}

// Submanifold neighbour lists over a batch (see DwSparse): for maps whose mask tiles are 1x1 or 2x2
// tokens, where visible regions are too small for the region kernels to pay off.
struct DwSparsePlan {
    std::vector<int32_t> site;   // visible site -> token index (n * H + h) * W + w
    std::vector<int32_t> begin;  // site s's entries: [begin[s], begin[s + 1])
    std::vector<int32_t> tap;    // entry -> tap index
    std::vector<int32_t> nbr;    // entry -> visible neighbour's token index
    // Tile pairs (DwPairs), when the tiles are kDwPairTile tokens a side: the layer then runs on them.
    std::vector<int32_t> pair_begin;   // class k's pairs: [pair_begin[k], pair_begin[k + 1]); empty: none
    std::vector<int32_t> pair_tile, pair_out, pair_in;
    std::vector<int64_t> pair_cost;    // prefix sums over the visible tiles of their pairs' products
};

class DwConv {
public:
    // Plans the dense region list (all of every image).
    void init(int64_t N, int64_t H, int64_t W, int64_t C);
    // Replaces the work list (e.g. the visible tiles of this step's mask).
    void set_tiles(const std::vector<DwTile>& tiles);
    const std::vector<DwTile>& tiles() const { return tiles_; }
    // Runs on neighbour lists instead of the work list while `plan` is set (null: back to the list).
    void set_sparse(const DwSparsePlan* plan) { sparse_ = plan; }
    const DwSparsePlan* sparse() const { return sparse_; }

    // dst written at the regions.
    void forward(float* dst, const float* src, const float* wei, const float* bias) const;
    // d_src += at the regions.
    void backward_data(float* d_src, const float* d_dst, const float* wei) const;
    // d_wei, d_bias accumulated over the regions.
    void backward_weights(float* d_wei, float* d_bias, const float* d_dst, const float* src);

private:
    int64_t N_ = 0, H_ = 0, W_ = 0, C_ = 0;
    std::vector<DwTile> tiles_;
    // Prefix sums of the tiles' multiply-adds: threads split the list by work, not by count
    // (masked tiles differ in size and halo).
    std::vector<int64_t> tile_cost_;

    DwGeom geom(const DwTile& t) const { return dw_tile_geom(t, H_, W_, C_); }
    // Masked tiles of large maps: run in short calls while the rows ahead are prefetched (dwconv.cpp).
    bool stream_ = false;
    // call(tile, geometry) over tiles [b, e) of one thread, reading `in` and writing `out`.
    template <class F>
    void run_tiles(const float* in, const float* out, int64_t b, int64_t e, F&& call) const;
    const DwSparsePlan* sparse_ = nullptr;
    GradPartials partials_;  // [49*C weights | C bias] per thread

    bool pairs() const { return sparse_ && !sparse_->pair_begin.empty(); }
    DwPairs pairs_range(int64_t t0, int64_t t1) const {
        return DwPairs{sparse_->pair_begin.data(), sparse_->pair_tile.data(), sparse_->pair_out.data(),
                       sparse_->pair_in.data(), W_, C_, t0, t1};
    }
    DwSparse sparse_range(int64_t s0, int64_t s1) const {
        return DwSparse{sparse_->site.data(), sparse_->begin.data(), sparse_->tap.data(), sparse_->nbr.data(), C_, s0, s1};
    }
};

}  // namespace cnx
