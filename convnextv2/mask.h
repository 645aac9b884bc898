// FCMAE masks and the active set they induce at each stage.
//
// A mask patch is one token of the final stage (32x32 pixels for stem stride 4; 8 x stem stride in
// general), so the patch grid is G x G with G = the final stage's side, L = G*G. At stage s a patch
// covers a tile of t = 2^(3-s) x t tokens. Per sample: draw L standard normal values, argsort
// ascending, keep the first floor(L * (1 - ratio)) patches: every sample keeps the same number.
//
// The active set of a stage numbers its visible tokens as compact rows: sample-major, then visible
// patches in ascending patch index, then row-major inside the tile. The same patch order at every
// stage lets a downsample map a visible tile to a visible tile. It also holds the depthwise's work
// for the algorithm its tile size takes (simd/dwconv/dwconv_algo.h): the visible tiles, each with
// the input window of its 7x7 reach that contains visible sites (the 3 rows above and below it are
// read only if a visible tile lies in them, and each band of rows reads only the columns its
// visible sites span); or the neighbour lists; or the tile pairs.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/dwconv.h"
#include "nn/tokens.h"

namespace cnx {

// floor(L * (1 - ratio)), the visible patches per sample.
int64_t mask_keep_count(int64_t L, double ratio);

// mask[n * L + l] = 1 when patch l of sample n is removed, 0 when kept; sample n from stream
// (key, first + n): a data-parallel rank holding samples first.. draws what one process would.
void make_mask(uint8_t* mask, int64_t N, int64_t L, double ratio, uint64_t key, int64_t first = 0);

struct ActiveSet {
    int64_t N = 0, H = 0, W = 0, C = 0;  // the stage's dense map [N, H, W, C]
    int64_t grid = 0, tile = 0;          // patches per side; tokens per patch side
    int64_t rows = 0;                    // visible tokens, all samples
    int64_t rows_per_sample = 0;
    std::vector<int64_t> token;          // compact row -> dense token index (n*H + h)*W + w
    std::vector<int64_t> dense_off;      // compact row -> element offset token * C
    std::vector<TileRegion> masked;      // masked tiles (zeroed where a dense map must be zero)
    // The depthwise algorithm for this set's tile size (dw_algo) and its work; build() makes only
    // that algorithm's, the others stay empty.
    DwAlgo algo = DwAlgo::kRegions;
    std::vector<DwTile> visible;  // kRegions: runs of visible tiles along tile rows, with their input windows
    DwListsPlan lists;            // kLists: neighbour lists over the visible sites (in compact row order)
    DwPairsPlan pairs;            // kPairs: pairs of visible tiles (tiles in compact order)
    // Points a depthwise layer at this set's algorithm and work.
    void plan_depthwise(DwConv& dw) const;

    // Builds the set for a stage of side H = W = grid * tile under `mask` (N x grid^2).
    void build(const uint8_t* mask, int64_t N, int64_t grid, int64_t tile, int64_t C);
    // One algorithm's work, for the set build() made from `mask` (tests build the others with them).
    void build_regions(const uint8_t* mask);
    void build_lists(const uint8_t* mask);
    void build_pairs(const uint8_t* mask);  // tiles kDwPairTile tokens a side only
};

// For a downsample from stage `prev` to stage `next` (tile halves): off[r] = element offset of prev's
// compact row r in next's compact patch matrix [next.rows, 4 * prev.C] ((kh, kw, c) order).
void masked_patch_offsets(std::vector<int64_t>& off, const ActiveSet& prev, const ActiveSet& next);

}  // namespace cnx
