// Moving token rows between a dense NHWC map [N, H, W, C] and a compact matrix [rows, C] of the
// tokens a masked stage computes: row r lives at element offset off[r] of the dense map.
// And rectangular regions (tiles) of a map, which the depthwise layer and the mask zeroing walk.
#pragma once

#include <cstdint>
#include <vector>

namespace cnx {

struct TileRegion {
    int32_t n, h0, h1, w0, w1;  // image n, rows [h0,h1), cols [w0,w1)
};

// dst[r] = src[off[r]] for rows of C floats.
void gather_rows(float* dst, const float* src, const int64_t* off, int64_t rows, int64_t C);
// dst[off[r]] = src[r].
void scatter_rows(float* dst, const float* src, const int64_t* off, int64_t rows, int64_t C);
// Zeroes the regions of a dense [N, H, W, C] map.
void zero_regions(float* dense, const std::vector<TileRegion>& regions, int64_t H, int64_t W, int64_t C);

}  // namespace cnx
