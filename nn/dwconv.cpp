#include "nn/dwconv.h"

#include <algorithm>

#include "simd/kernels.h"

namespace cnx {

void DwConv::init(int64_t N, int64_t H, int64_t W, int64_t C) {
    N_ = N;
    H_ = H;
    W_ = W;
    C_ = C;
    partials_.init((kDwTaps + 1) * C);
    // Bands of rows: enough regions to balance the threads, few enough to keep calls long.
    int64_t band = 1;
    while (band < H && N * ((H + band * 2 - 1) / (band * 2)) >= 4 * num_threads()) band *= 2;
    std::vector<DwTile> bands;
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h += band)
            bands.push_back(DwTile{(int32_t)n, (int32_t)h, (int32_t)std::min(H, h + band), 0, (int32_t)W, 0, (int32_t)H,
                                   0, (int32_t)W});
    set_tiles(bands);
}

void DwConv::set_tiles(const std::vector<DwTile>& tiles) {
    tiles_ = tiles;
    // A region's multiply-adds per channel, band by band of input rows: (input rows of the band in
    // reach, summed over its rows) x (input columns of the band in reach, summed over its columns).
    auto reach = [](int64_t o0, int64_t o1, int64_t i0, int64_t i1) {
        int64_t sum = 0;
        for (int64_t o = o0; o < o1; o++) sum += std::max<int64_t>(0, std::min(i1, o + kDwPad + 1) - std::max(i0, o - kDwPad));
        return sum;
    };
    tile_cost_.assign(1, 0);
    for (const DwTile& t : tiles_) {
        const DwGeom g = geom(t);
        int64_t cost = 0;
        for (DwBand b : {kDwTop, kDwMid, kDwBottom}) {
            const DwSpan rows = dw_band_rows(g, b), cols = dw_band_cols(g, b);
            cost += reach(g.h0, g.h1, rows.lo, rows.hi) * reach(g.w0, g.w1, cols.lo, cols.hi);
        }
        tile_cost_.push_back(tile_cost_.back() + cost);
    }
}

void DwConv::forward(float* dst, const float* src, const float* wei, const float* bias) const {
    const Kernels& k = kernels();
    if (pairs()) {
        parallel_for_weighted(sparse_->pair_cost, [&](int64_t b, int64_t e, int) { k.dwconv_pairs_fwd(dst, src, wei, bias, pairs_range(b, e)); });
        return;
    }
    if (sparse_) {
        parallel_for_weighted(sparse_->begin, [&](int64_t b, int64_t e, int) { k.dwconv_sparse_fwd(dst, src, wei, bias, sparse_range(b, e)); });
        return;
    }
    const int64_t img = H_ * W_ * C_;
    parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            const DwTile& t = tiles_[(size_t)i];
            k.dwconv_fwd(dst + t.n * img, src + t.n * img, wei, bias, geom(t));
        }
    });
}

void DwConv::backward_data(float* d_src, const float* d_dst, const float* wei) const {
    const Kernels& k = kernels();
    if (pairs()) {
        parallel_for_weighted(sparse_->pair_cost, [&](int64_t b, int64_t e, int) { k.dwconv_pairs_bwd_data(d_src, d_dst, wei, pairs_range(b, e)); });
        return;
    }
    if (sparse_) {
        parallel_for_weighted(sparse_->begin, [&](int64_t b, int64_t e, int) { k.dwconv_sparse_bwd_data(d_src, d_dst, wei, sparse_range(b, e)); });
        return;
    }
    const int64_t img = H_ * W_ * C_;
    parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            const DwTile& t = tiles_[(size_t)i];
            k.dwconv_bwd_data(d_src + t.n * img, d_dst + t.n * img, wei, geom(t));
        }
    });
}

void DwConv::backward_weights(float* d_wei, float* d_bias, const float* d_dst, const float* src) {
    const Kernels& k = kernels();
    const int64_t img = H_ * W_ * C_;
    partials_.clear();
    if (pairs()) {
        parallel_for_weighted(sparse_->pair_cost, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            k.dwconv_pairs_bwd_wei(part, part + kDwTaps * C_, d_dst, src, pairs_range(b, e));
        });
    } else if (sparse_) {
        parallel_for_weighted(sparse_->begin, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            k.dwconv_sparse_bwd_wei(part, part + kDwTaps * C_, d_dst, src, sparse_range(b, e));
        });
    } else {
        parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            for (int64_t i = b; i < e; i++) {
                const DwTile& t = tiles_[(size_t)i];
                k.dwconv_bwd_wei(part, part + kDwTaps * C_, d_dst + t.n * img, src + t.n * img, geom(t));
            }
        });
    }
    partials_.reduce_into(d_wei, 0, kDwTaps * C_);
    partials_.reduce_into(d_bias, kDwTaps * C_, C_);
}

}  // namespace cnx
