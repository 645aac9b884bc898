// FCMAE masks and the active set they induce at each stage.
//
// A mask patch is one token of the final stage (32x32 pixels for stem stride 4; 8 x stem stride in
// general), so the patch grid is G x G with G = the final stage's side, L = G*G. At stage s a patch
// covers a tile of t = 2^(3-s) x t tokens. Per sample: draw L standard normal values, argsort
// ascending, keep the first floor(L * (1 - ratio)) patches: every sample keeps the same number.
//
// The active set of a stage lists its visible tiles and numbers their tokens as compact rows:
// (each visible tile also gets the input window of its 7x7 reach that contains visible sites: the
// 3 rows above and below it are read only if a visible tile lies in them, and each band of rows
// reads only the columns its visible sites span)
// sample-major, then visible patches in ascending patch index, then row-major inside the tile. The
// same patch order at every stage lets a downsample map a visible tile to a visible tile.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/dwconv.h"
#include "nn/tokens.h"

namespace cnx {

// floor(L * (1 - ratio)), the visible patches per sample.
int64_t mask_keep_count(int64_t L, double ratio);

// mask[n * L + l] = 1 when patch l of sample n is removed, 0 when kept; random stream `key`.
void make_mask(uint8_t* mask, int64_t N, int64_t L, double ratio, uint64_t key);

// Tiles of at most this many tokens a side (stages 3 and 4 at stem stride 4) use neighbour lists: a
// 1x1 or 2x2 region is too narrow for the register-blocked region kernels (at mask ratio 0.6 they
// took 0.8-1.5x the dense time; the lists only touch visible pairs). At 2x2 tiles the depthwise
// runs on pairs of visible tiles (DwPairs) instead.
constexpr int64_t kDwSparseTile = 2;

struct ActiveSet {
    int64_t N = 0, H = 0, W = 0, C = 0;  // the stage's dense map [N, H, W, C]
    int64_t grid = 0, tile = 0;          // patches per side; tokens per patch side
    int64_t rows = 0;                    // visible tokens, all samples
    int64_t rows_per_sample = 0;
    std::vector<int64_t> token;          // compact row -> dense token index (n*H + h)*W + w
    std::vector<int64_t> dense_off;      // compact row -> element offset token * C
    std::vector<DwTile> visible;         // runs of visible tiles along tile rows, with their input windows
                                         // (the depthwise work list)
    std::vector<TileRegion> masked;      // masked tiles (zeroed where a dense map must be zero)
    // Neighbour lists over the visible sites (in compact row order), built when tiles are at most
    // kDwSparseTile tokens wide, with tile pairs when they are kDwPairTile wide: the depthwise runs
    // on them instead of `visible`.
    DwSparsePlan sparse;
    const DwSparsePlan* sparse_plan() const { return tile <= kDwSparseTile ? &sparse : nullptr; }
    // Points a depthwise layer at this set's work: the neighbour lists or the visible tiles.
    void plan_depthwise(DwConv& dw) const;

    // Builds the set for a stage of side H = W = grid * tile under `mask` (N x grid^2).
    void build(const uint8_t* mask, int64_t N, int64_t grid, int64_t tile, int64_t C);

private:
    void build_sparse(const uint8_t* mask);
};

// For a downsample from stage `prev` to stage `next` (tile halves): off[r] = element offset of prev's
// compact row r in next's compact patch matrix [next.rows, 4 * prev.C] ((kh, kw, c) order).
void masked_patch_offsets(std::vector<int64_t>& off, const ActiveSet& prev, const ActiveSet& next);

}  // namespace cnx
