#include "nn/dwconv.h"

#include <algorithm>

#include "nn/convert.h"
#include "simd/kernels.h"

namespace cnx {

namespace {

// Masked tiles of the large maps (dw_large_image) run in calls of kDwStreamRows output rows while
// the rows ahead are prefetched, across tile boundaries: the tiles are short rows scattered over the
// map, which the hardware prefetchers follow late, and the kernel's own prefetch cannot reach the
// next tile. Rows ahead: kDwStreamIn input rows, kDwStreamOut output rows. Calls of 2 rows: the
// kernel's own prefetch (two rows ahead) then falls outside the call, so no row is prefetched twice.
constexpr int64_t kDwStreamRows = 2, kDwStreamIn = 8, kDwStreamOut = 4;

// The rows a thread's tiles [b, e) read (the input window's rows, each band's columns) and write
// (the output rows, of element type Out), in the order the tiles run them, prefetched a given number
// of rows at a time.
template <class Out>
class DwRowStream {
public:
    DwRowStream(const std::vector<DwTile>& tiles, int64_t b, int64_t e, int64_t H, int64_t W, int64_t C,
                const float* in, const Out* out)
        : tiles_(tiles), e_(e), H_(H), W_(W), C_(C), in_(in), out_(out), in_tile_(b), out_tile_(b),
          in_row_(tiles[(size_t)b].ih0), out_row_(tiles[(size_t)b].h0) {}

    void read_ahead(int64_t rows) {
        for (; rows > 0 && in_tile_ < e_; rows--) {
            const DwTile& t = tiles_[(size_t)in_tile_];
            dw_prefetch_in_row(in_ + t.n * H_ * W_ * C_, dw_tile_geom(t, H_, W_, C_), in_row_);
            if (++in_row_ == t.ih1 && ++in_tile_ < e_) in_row_ = tiles_[(size_t)in_tile_].ih0;
        }
    }
    void write_ahead(int64_t rows) {
        for (; rows > 0 && out_tile_ < e_; rows--) {
            const DwTile& t = tiles_[(size_t)out_tile_];
            dw_prefetch_out_row(out_ + t.n * H_ * W_ * C_, dw_tile_geom(t, H_, W_, C_), out_row_);
            if (++out_row_ == t.h1 && ++out_tile_ < e_) out_row_ = tiles_[(size_t)out_tile_].h0;
        }
    }

private:
    const std::vector<DwTile>& tiles_;
    int64_t e_, H_, W_, C_;
    const float* in_;
    const Out* out_;
    int64_t in_tile_, out_tile_, in_row_, out_row_;
};

}  // namespace

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
    algo_ = DwAlgo::kRegions;
    tiles_ = tiles;
    stream_ = dw_large_image(dw_whole(H_, W_, C_)) &&
              std::any_of(tiles_.begin(), tiles_.end(), [&](const DwTile& t) { return t.w1 - t.w0 < W_; });
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
    const int64_t img = H_ * W_ * C_;
    switch (algo_) {
    case DwAlgo::kRegions:
        return parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int) {
            run_tiles(src, dst, b, e, [&](const DwTile& t, const DwGeom& g) { k.dwconv_fwd(dst + t.n * img, src + t.n * img, wei, bias, g); });
        });
    case DwAlgo::kLists:
        return parallel_for_weighted(lists_->begin, [&](int64_t b, int64_t e, int) { k.dwconv_sparse_fwd(dst, src, wei, bias, lists_call(b, e)); });
    case DwAlgo::kPairs:
        return parallel_for_weighted(pairs_->cost, [&](int64_t b, int64_t e, int) { k.dwconv_pairs_fwd(dst, src, wei, bias, pairs_call(b, e)); });
    }
}

void DwConv::forward(bf16* dst, const float* src, const float* wei, const float* bias) {
    const Kernels& k = kernels();
    const int64_t img = H_ * W_ * C_;
    switch (algo_) {
    case DwAlgo::kRegions:
        return parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int) {
            run_tiles(src, dst, b, e, [&](const DwTile& t, const DwGeom& g) { k.dwconv_fwd_bf16(dst + t.n * img, src + t.n * img, wei, bias, g); });
        });
    case DwAlgo::kLists:
        return parallel_for_weighted(lists_->begin, [&](int64_t b, int64_t e, int) { k.dwconv_sparse_fwd_bf16(dst, src, wei, bias, lists_call(b, e)); });
    case DwAlgo::kPairs:
        // The pair classes add into their outputs in turn: the sums build up in fp32, then round once.
        if (pairs_out_.size() < (size_t)(N_ * img)) pairs_out_.resize((size_t)(N_ * img));
        forward(pairs_out_.data(), src, wei, bias);
        return to_bf16(dst, pairs_out_.data(), N_ * img);
    }
}

template <class Out, class F>
void DwConv::run_tiles(const float* in, const Out* out, int64_t b, int64_t e, F&& call) const {
    if (!stream_) {
        for (int64_t i = b; i < e; i++) call(tiles_[(size_t)i], geom(tiles_[(size_t)i]));
        return;
    }
    DwRowStream<Out> stream(tiles_, b, e, H_, W_, C_, in, out);
    stream.read_ahead(kDwStreamIn);
    stream.write_ahead(kDwStreamOut);
    for (int64_t i = b; i < e; i++) {
        const DwTile& t = tiles_[(size_t)i];
        DwGeom g = geom(t);
        g.band_h0 = t.h0;
        g.band_h1 = t.h1;
        for (int64_t h = t.h0; h < t.h1; h += kDwStreamRows) {
            const int64_t h_end = std::min<int64_t>(t.h1, h + kDwStreamRows);
            // the input rows these output rows are the first to read
            const int64_t first = h == t.h0 ? t.ih0 : std::min<int64_t>(t.ih1, h + kDwPad);
            stream.read_ahead(std::min<int64_t>(t.ih1, h_end + kDwPad) - first);
            stream.write_ahead(h_end - h);
            g.h0 = h;
            g.h1 = h_end;
            call(t, g);
        }
    }
}

void DwConv::backward_data(float* d_src, const float* d_dst, const float* wei) const {
    const Kernels& k = kernels();
    const int64_t img = H_ * W_ * C_;
    switch (algo_) {
    case DwAlgo::kRegions:
        return parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int) {
            run_tiles(d_dst, d_src, b, e, [&](const DwTile& t, const DwGeom& g) { k.dwconv_bwd_data(d_src + t.n * img, d_dst + t.n * img, wei, g); });
        });
    case DwAlgo::kLists:
        return parallel_for_weighted(lists_->begin, [&](int64_t b, int64_t e, int) { k.dwconv_sparse_bwd_data(d_src, d_dst, wei, lists_call(b, e)); });
    case DwAlgo::kPairs:
        return parallel_for_weighted(pairs_->cost, [&](int64_t b, int64_t e, int) { k.dwconv_pairs_bwd_data(d_src, d_dst, wei, pairs_call(b, e)); });
    }
}

void DwConv::backward_weights(float* d_wei, float* d_bias, const float* d_dst, const float* src) {
    const Kernels& k = kernels();
    const int64_t img = H_ * W_ * C_;
    partials_.clear();
    switch (algo_) {
    case DwAlgo::kRegions:
        parallel_for_weighted(tile_cost_, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            for (int64_t i = b; i < e; i++) {
                const DwTile& t = tiles_[(size_t)i];
                k.dwconv_bwd_wei(part, part + kDwTaps * C_, d_dst + t.n * img, src + t.n * img, geom(t));
            }
        });
        break;
    case DwAlgo::kLists:
        parallel_for_weighted(lists_->begin, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            k.dwconv_sparse_bwd_wei(part, part + kDwTaps * C_, d_dst, src, lists_call(b, e));
        });
        break;
    case DwAlgo::kPairs:
        parallel_for_weighted(pairs_->cost, [&](int64_t b, int64_t e, int th) {
            float* part = partials_.slice(th);
            k.dwconv_pairs_bwd_wei(part, part + kDwTaps * C_, d_dst, src, pairs_call(b, e));
        });
        break;
    }
    partials_.reduce_into(d_wei, 0, kDwTaps * C_);
    partials_.reduce_into(d_bias, kDwTaps * C_, C_);
}

}  // namespace cnx
