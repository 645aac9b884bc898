// Depthwise 7x7 convolution layer over NHWC activations [N, H, W, C]. It runs the algorithm it was
// given (dw_algo in simd/dwconv/dwconv_algo.h decides which), threaded over that algorithm's work by
// cost: a list of output regions, each with the input window it may read (the dense plan covers every
// image in bands of rows; a masked plan (FCMAE) lists only the visible tiles, each with a window that
// leaves out masked neighbours, so fully masked tiles cost nothing), or the neighbour lists or tile
// pairs of a mask with tiny tiles. Weights [7][7][C], bias [C].
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

// Submanifold neighbour lists over a batch (DwSparse), the work of DwAlgo::kLists.
struct DwListsPlan {
    std::vector<int32_t> site;   // visible site -> token index (n * H + h) * W + w
    std::vector<int32_t> begin;  // site s's entries: [begin[s], begin[s + 1])
    std::vector<int32_t> tap;    // entry -> tap index
    std::vector<int32_t> nbr;    // entry -> visible neighbour's token index
};

// Pairs of visible kDwPairTile x kDwPairTile tiles over a batch (DwPairs), the work of DwAlgo::kPairs.
struct DwPairsPlan {
    std::vector<int32_t> begin;  // class k's pairs: [begin[k], begin[k + 1])
    std::vector<int32_t> tile, out, in;
    std::vector<int64_t> cost;   // prefix sums over the visible tiles of their pairs' products
};

class DwConv {
public:
    // Plans the dense region list (all of every image).
    void init(int64_t N, int64_t H, int64_t W, int64_t C);
    // Runs the regions of a work list (e.g. the visible tiles of this step's mask).
    void set_tiles(const std::vector<DwTile>& tiles);
    const std::vector<DwTile>& tiles() const { return tiles_; }
    // Runs the neighbour lists or the tile pairs of `plan`, which must outlive the runs.
    void set_lists(const DwListsPlan& plan) {
        algo_ = DwAlgo::kLists;
        lists_ = &plan;
    }
    void set_pairs(const DwPairsPlan& plan) {
        algo_ = DwAlgo::kPairs;
        pairs_ = &plan;
    }
    DwAlgo algo() const { return algo_; }

    // dst written at the output sites of the work (every site of a dense map, the visible ones of a
    // masked map).
    void forward(float* dst, const float* src, const float* wei, const float* bias) const;
    // The same with dst in bf16 (bf16 precision), each output rounded from its fp32 sum. Tile pairs sum
    // into an fp32 map of the layer's own and convert it whole.
    void forward(bf16* dst, const float* src, const float* wei, const float* bias);
    // d_src += at those sites.
    void backward_data(float* d_src, const float* d_dst, const float* wei) const;
    // d_wei, d_bias accumulated over those sites.
    void backward_weights(float* d_wei, float* d_bias, const float* d_dst, const float* src);

private:
    int64_t N_ = 0, H_ = 0, W_ = 0, C_ = 0;
    DwAlgo algo_ = DwAlgo::kRegions;
    // kRegions: the work list
    std::vector<DwTile> tiles_;
    // Prefix sums of the tiles' multiply-adds: threads split the list by work, not by count
    // (masked tiles differ in size and halo).
    std::vector<int64_t> tile_cost_;

    DwGeom geom(const DwTile& t) const { return dw_tile_geom(t, H_, W_, C_); }
    // Masked tiles of large maps: run in short calls while the rows ahead are prefetched (dwconv.cpp).
    bool stream_ = false;
    // call(tile, geometry) over tiles [b, e) of one thread, reading `in` and writing `out`.
    template <class Out, class F>
    void run_tiles(const float* in, const Out* out, int64_t b, int64_t e, F&& call) const;
    // kLists, kPairs: the plan
    const DwListsPlan* lists_ = nullptr;
    const DwPairsPlan* pairs_ = nullptr;
    GradPartials partials_;  // [49*C weights | C bias] per thread
    FloatBuffer pairs_out_;  // [N,H,W,C] kPairs in bf16: the fp32 sums before rounding

    // A call over sites [s0, s1) of the lists, or the pairs of tiles [t0, t1).
    DwSparse lists_call(int64_t s0, int64_t s1) const {
        return DwSparse{lists_->site.data(), lists_->begin.data(), lists_->tap.data(), lists_->nbr.data(), C_, s0, s1};
    }
    DwPairs pairs_call(int64_t t0, int64_t t1) const {
        return DwPairs{pairs_->begin.data(), pairs_->tile.data(), pairs_->out.data(), pairs_->in.data(), W_, C_, t0, t1};
    }
};

}  // namespace cnx
