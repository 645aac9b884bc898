#include "nn/tokens.h"

#include <cstring>

#include "nn/parallel.h"

namespace cnx {

void gather_rows(float* dst, const float* src, const int64_t* off, int64_t rows, int64_t C) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) std::memcpy(dst + r * C, src + off[r], (size_t)C * sizeof(float));
    });
}

void scatter_rows(float* dst, const float* src, const int64_t* off, int64_t rows, int64_t C) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) std::memcpy(dst + off[r], src + r * C, (size_t)C * sizeof(float));
    });
}

void zero_regions(float* dense, const std::vector<TileRegion>& regions, int64_t H, int64_t W, int64_t C) {
    parallel_for((int64_t)regions.size(), [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            const TileRegion& t = regions[(size_t)i];
            for (int64_t h = t.h0; h < t.h1; h++)
                std::memset(dense + ((t.n * H + h) * W + t.w0) * C, 0, (size_t)((t.w1 - t.w0) * C) * sizeof(float));
        }
    });
}

}  // namespace cnx
