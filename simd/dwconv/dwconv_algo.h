// The depthwise 7x7 convolution's shape, and which of its three algorithms runs for a map: the one
// place for the tile sizes and the size threshold that decide it.
#pragma once

#include <cstdint>

namespace cnx {

constexpr int kDwK = 7;     // kernel size
constexpr int kDwPad = 3;   // padding on each side
constexpr int kDwTaps = 49;

// Each algorithm has kernels for the forward, the backward-data and the weight gradient.
enum class DwAlgo {
    kRegions,  // output regions with their input windows, register-blocked along W (dwconv_regions.h)
    kLists,    // per visible output site, a list of its visible input sites and taps (dwconv_lists.h)
    kPairs,    // pairs of visible 2x2 tiles, one class of 9 taps at a time (dwconv_pairs.h)
};

// The tile size that stands for an unmasked map (its regions are bands of whole rows).
constexpr int64_t kDwDense = 0;
// Mask tiles up to this many tokens a side are too narrow for the regions' register blocks along W.
constexpr int64_t kDwSparseTile = 2;
// The tile side the pair kernels are written for; there they load less per product than the lists.
constexpr int kDwPairTile = 2;
// Images over this size (stage 1 at 224, not stage 2) outrun the hardware prefetchers: the region
// kernels prefetch the rows ahead, and the layer streams the masked tiles of such maps.
constexpr int64_t kDwPrefetchImageBytes = 384 * 1024;

// The algorithm for a map whose mask tiles are `tile` tokens a side (kDwDense: unmasked).
constexpr DwAlgo dw_algo(int64_t tile) {
    if (tile == kDwDense || tile > kDwSparseTile) return DwAlgo::kRegions;
    return tile == kDwPairTile ? DwAlgo::kPairs : DwAlgo::kLists;
}

}  // namespace cnx
