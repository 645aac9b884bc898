// The depthwise kernels on masked maps (FCMAE): over the visible tiles of masks, each algorithm
// (regions, neighbour lists, tile pairs; simd/dwconv/dwconv_algo.h) of every ISA equals the dense
// convolution of the masked input at the visible sites; the layer's streamed short calls equal one
// kernel call per tile.
#include <algorithm>
#include <utility>

#include "convnextv2/mask.h"
#include "nn/dwconv.h"
#include "nn/parallel.h"
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

namespace {

// Three masked maps of side grid x tile: inputs and output gradients zero at masked sites, and the
// dense formulas over the whole maps, which every algorithm must meet at the visible sites.
struct MaskedMaps {
    static constexpr int64_t N = 3;
    int64_t tile, S, C, img;
    double ratio;
    ActiveSet as;
    std::vector<float> x, gy, w, b;
    std::vector<double> want_y, want_gx, want_gw, want_gb;
    MaskedMaps(int64_t tile, double ratio);
};

MaskedMaps::MaskedMaps(int64_t tile_, double ratio_) : tile(tile_), ratio(ratio_) {
    // C = 150 at tile 1: whole 8-vector chunks, single vectors and a tail in the list kernels
    const int64_t grid = tile >= 4 ? 4 : 7;
    S = grid * tile;
    C = tile == 8 ? 19 : tile == 1 ? 150 : 40;
    img = S * S * C;
    std::vector<uint8_t> mask((size_t)(N * grid * grid));
    make_mask(mask.data(), N, grid * grid, ratio, 100 + (uint64_t)tile);
    as.build(mask.data(), N, grid, tile, C);
    // the set holds only the work of the algorithm its tiles take; the others are built here, so
    // that each algorithm's kernels are checked at every tile size they can run
    CHECK(as.algo == (tile == 1 ? DwAlgo::kLists : tile == 2 ? DwAlgo::kPairs : DwAlgo::kRegions));
    CHECK(as.lists.begin.empty() == (as.algo != DwAlgo::kLists));
    CHECK(as.pairs.begin.empty() == (as.algo != DwAlgo::kPairs));
    if (as.algo != DwAlgo::kRegions) {
        CHECK(as.visible.empty());
        as.build_regions(mask.data());
    }
    if (tile <= kDwSparseTile && as.algo != DwAlgo::kLists) as.build_lists(mask.data());
    x = random_vector(N * img, 1 + (uint64_t)tile);
    gy = random_vector(N * img, 2);
    w = random_vector(kDwTaps * C, 3);
    b = random_vector(C, 4);
    for (const TileRegion& t : as.masked)
        for (int64_t h = t.h0; h < t.h1; h++) {
            const size_t row = (size_t)(t.n * img + (h * S + t.w0) * C), end = row + (size_t)((t.w1 - t.w0) * C);
            std::fill(x.begin() + row, x.begin() + end, 0.0f);
            std::fill(gy.begin() + row, gy.begin() + end, 0.0f);
        }
    want_y.assign((size_t)(N * img), 0.0);
    want_gx.assign((size_t)(N * img), 0.0);
    want_gw.assign((size_t)(kDwTaps * C), 0.0);
    want_gb.assign((size_t)C, 0.0);
    const DwGeom whole = dw_whole(S, S, C);
    for (int64_t n = 0; n < N; n++) {
        dw_fwd_formula(want_y.data() + n * img, x.data() + n * img, w.data(), b.data(), whole);
        dw_bwd_data_formula(want_gx.data() + n * img, gy.data() + n * img, w.data(), whole);
        dw_bwd_wei_formula(want_gw.data(), want_gb.data(), gy.data() + n * img, x.data() + n * img, whole);
    }
}

// What one algorithm wrote: y from -5 (masked sites keep it), gx, gw and gb from zero.
struct DwOutputs {
    std::vector<float> y, gx, gw, gb;
    explicit DwOutputs(const MaskedMaps& m)
        : y((size_t)(m.N * m.img), -5.0f), gx((size_t)(m.N * m.img), 0.0f), gw((size_t)(kDwTaps * m.C), 0.0f), gb((size_t)m.C, 0.0f) {}
};

// y and gx at the visible `sites` (token indices), gw and gb, against the dense formulas; y at the
// masked tiles untouched.
void expect_dense(const MaskedMaps& m, const DwOutputs& o, const std::vector<int64_t>& sites) {
    std::vector<float> got_y, got_gx;
    std::vector<double> want_y, want_gx;
    for (int64_t t : sites)
        for (int64_t c = 0; c < m.C; c++) {
            const size_t i = (size_t)(t * m.C + c);
            got_y.push_back(o.y[i]);
            want_y.push_back(m.want_y[i]);
            got_gx.push_back(o.gx[i]);
            want_gx.push_back(m.want_gx[i]);
        }
    expect_close("y", got_y.data(), want_y.data(), (int64_t)got_y.size(), 2e-5, 2e-5);
    expect_close("gx", got_gx.data(), want_gx.data(), (int64_t)got_gx.size(), 2e-5, 2e-5);
    const Compare cw = expect_close("gw", o.gw.data(), m.want_gw.data(), kDwTaps * m.C, 1e-4, 1e-4);
    if (m.ratio < 1) check_trustworthy(cw, kDwTaps * m.C);
    expect_close("gb", o.gb.data(), m.want_gb.data(), m.C, 1e-4, 1e-4);
    for (const TileRegion& t : m.as.masked) CHECK(o.y[(size_t)(((t.n * m.S + t.h0) * m.S + t.w0) * m.C)] == -5.0f);
}

// The region kernels on each visible tile; and again in calls of 3 rows that keep the tile's bands
// (as the layer runs large maps), which must give the same values, bit for bit.
void check_regions(const DwRegionKernels& k, const MaskedMaps& m) {
    DwOutputs o(m), in_rows(m);
    std::vector<int64_t> sites;
    for (const DwTile& t : m.as.visible) {
        const DwGeom g = dw_tile_geom(t, m.S, m.S, m.C);
        const int64_t at = t.n * m.img;
        k.fwd(o.y.data() + at, m.x.data() + at, m.w.data(), m.b.data(), g);
        k.bwd_data(o.gx.data() + at, m.gy.data() + at, m.w.data(), g);
        k.bwd_wei(o.gw.data(), o.gb.data(), m.gy.data() + at, m.x.data() + at, g);
        DwGeom part = g;
        part.band_h0 = t.h0;
        part.band_h1 = t.h1;
        for (int64_t h = t.h0; h < t.h1; h += 3) {
            part.h0 = h;
            part.h1 = std::min<int64_t>(t.h1, h + 3);
            k.fwd(in_rows.y.data() + at, m.x.data() + at, m.w.data(), m.b.data(), part);
            k.bwd_data(in_rows.gx.data() + at, m.gy.data() + at, m.w.data(), part);
        }
        for (int64_t h = t.h0; h < t.h1; h++)
            for (int64_t ww = t.w0; ww < t.w1; ww++) sites.push_back((t.n * m.S + h) * m.S + ww);
    }
    CHECK(in_rows.y == o.y);
    CHECK(in_rows.gx == o.gx);
    CHECK(sites.size() == (size_t)m.as.rows);
    expect_dense(m, o, sites);
}

// Tiny tiles: the neighbour lists over every visible site.
void check_lists(const DwListKernels& k, const MaskedMaps& m) {
    const DwListsPlan& p = m.as.lists;
    CHECK(p.site.size() == (size_t)m.as.rows);
    const DwSparse sp{p.site.data(), p.begin.data(), p.tap.data(), p.nbr.data(), m.C, 0, (int64_t)p.site.size()};
    DwOutputs o(m);
    k.fwd(o.y.data(), m.x.data(), m.w.data(), m.b.data(), sp);
    k.bwd_data(o.gx.data(), m.gy.data(), m.w.data(), sp);
    k.bwd_wei(o.gw.data(), o.gb.data(), m.gy.data(), m.x.data(), sp);
    expect_dense(m, o, std::vector<int64_t>(p.site.begin(), p.site.end()));
}

// 2x2 tiles: the tile-pair kernels, in two calls split at a tile.
void check_pairs(const DwPairKernels& k, const MaskedMaps& m) {
    const DwPairsPlan& q = m.as.pairs;
    const int64_t tiles = (int64_t)q.cost.size() - 1, mid = tiles / 3;
    CHECK(tiles * kDwPairTile * kDwPairTile == m.as.rows);
    DwOutputs o(m);
    for (auto [t0, t1] : {std::pair<int64_t, int64_t>{0, mid}, {mid, tiles}}) {
        const DwPairs pp{q.begin.data(), q.tile.data(), q.out.data(), q.in.data(), m.S, m.C, t0, t1};
        k.fwd(o.y.data(), m.x.data(), m.w.data(), m.b.data(), pp);
        k.bwd_data(o.gx.data(), m.gy.data(), m.w.data(), pp);
        k.bwd_wei(o.gw.data(), o.gb.data(), m.gy.data(), m.x.data(), pp);
    }
    expect_dense(m, o, std::vector<int64_t>(m.as.lists.site.begin(), m.as.lists.site.end()));
}

// The windows leave masked bands out: some tile reads less than its full reach, and some band above
// or below a tile spans other columns than the tile's rows.
void check_windows_narrowed(const ActiveSet& as) {
    int narrowed = 0, banded = 0;
    for (const DwTile& t : as.visible) {
        narrowed += (t.ih0 > std::max(0, t.h0 - 3)) || (t.iw1 < std::min<int>((int)as.W, t.w1 + 3));
        banded += (t.tw0 >= 0 && (t.tw0 != t.iw0 || t.tw1 != t.iw1)) || (t.bw0 >= 0 && (t.bw0 != t.iw0 || t.bw1 != t.iw1));
    }
    CHECK(narrowed > 0);
    CHECK(banded > 0);
}

}  // namespace

TEST_CASE("dwconv 7x7 over the visible tiles of masks (ratios 0, 0.6, 1): equals the dense conv of the masked input") {
    for (const DwKernels& k : dw_kernels()) {
        CAPTURE(k.isa);
        for (int64_t tile : {1, 2, 4, 8}) {
            for (double ratio : {0.0, 0.6, 1.0}) {
                CAPTURE(tile);
                CAPTURE(ratio);
                const MaskedMaps m(tile, ratio);
                check_regions(k.regions, m);
                if (tile <= kDwSparseTile) check_lists(k.lists, m);
                if (tile == kDwPairTile) check_pairs(k.pairs, m);
                if (ratio == 0.6 && tile >= 4) check_windows_narrowed(m.as);
            }
        }
    }
}

TEST_CASE("depthwise layer on the visible tiles of a large map (streamed in short calls) equals one kernel call per tile, in fp32 and bf16") {
    // 56x56x40 (over kDwPrefetchImageBytes): the layer runs the tiles in calls of a few rows while it
    // prefetches ahead, on 1 and 2 threads; the values must be those of whole-tile calls, bit for bit
    const int64_t N = 3, grid = 7, tile = 8, S = grid * tile, C = 40, img = S * S * C;
    REQUIRE(img * (int64_t)sizeof(float) > kDwPrefetchImageBytes);
    std::vector<uint8_t> mask((size_t)(N * grid * grid));
    make_mask(mask.data(), N, grid * grid, 0.6, 7);
    ActiveSet as;
    as.build(mask.data(), N, grid, tile, C);
    std::vector<float> x = test::random_vector(N * img, 1), gy = test::random_vector(N * img, 2);
    const std::vector<float> w = test::random_vector(49 * C, 3), b = test::random_vector(C, 4);
    const Kernels& k = kernels();
    std::vector<float> want_y((size_t)(N * img), -5.0f), want_gx((size_t)(N * img), 0.5f);
    for (const DwTile& t : as.visible) {
        const DwGeom g = dw_tile_geom(t, S, S, C);
        k.dwconv_fwd(want_y.data() + t.n * img, x.data() + t.n * img, w.data(), b.data(), g);
        k.dwconv_bwd_data(want_gx.data() + t.n * img, gy.data() + t.n * img, w.data(), g);
    }
    const int saved = num_threads();
    for (int threads : {1, 2}) {
        CAPTURE(threads);
        set_num_threads(threads);
        DwConv layer;
        layer.init(N, S, S, C);
        as.plan_depthwise(layer);
        std::vector<float> y((size_t)(N * img), -5.0f), gx((size_t)(N * img), 0.5f);
        layer.forward(y.data(), x.data(), w.data(), b.data());
        layer.backward_data(gx.data(), gy.data(), w.data());
        CHECK(y == want_y);
        CHECK(gx == want_gx);
        // in bf16 (streamed with the output rows' prefetch at 2 bytes a value): the same, rounded
        std::vector<bf16> y16((size_t)(N * img), bf16(0x7fc1));
        layer.forward(y16.data(), x.data(), w.data(), b.data());
        int64_t wrong = 0;
        for (size_t i = 0; i < y16.size(); i++) wrong += y16[i] != (want_y[i] == -5.0f ? bf16(0x7fc1) : bf16_from_float(want_y[i]));
        CHECK(wrong == 0);
    }
    set_num_threads(saved);
}

TEST_CASE("dwconv 7x7 over masked maps with bf16 output: every variant rounds its ISA's fp32 output at the visible sites") {
    auto expect_rounded_y = [](const std::vector<bf16>& got, const std::vector<float>& twin) {
        int64_t wrong = 0, written = 0;
        for (size_t i = 0; i < got.size(); i++) {
            written += twin[i] != -5.0f;
            wrong += got[i] != (twin[i] != -5.0f ? bf16_from_float(twin[i]) : bf16(0x7fc1));
        }
        CHECK(wrong == 0);
        return written;
    };
    for_each_variant_isa<dwconv_fwd_bf16_fn>("dwconv_fwd_bf16", [&](dwconv_fwd_bf16_fn fwd, Isa isa) {
        for (int64_t tile : {4, 8}) {
            CAPTURE(tile);
            const MaskedMaps m(tile, 0.6);
            std::vector<float> twin((size_t)(m.N * m.img), -5.0f);
            std::vector<bf16> got(twin.size(), bf16(0x7fc1));
            for (const DwTile& t : m.as.visible) {
                const DwGeom g = dw_tile_geom(t, m.S, m.S, m.C);
                fwd(got.data() + t.n * m.img, m.x.data() + t.n * m.img, m.w.data(), m.b.data(), g);
                kernels_for(isa).dwconv_fwd(twin.data() + t.n * m.img, m.x.data() + t.n * m.img, m.w.data(), m.b.data(), g);
            }
            CHECK(expect_rounded_y(got, twin) == m.as.rows * m.C);
        }
    });
    for_each_variant_isa<dwconv_sparse_fwd_bf16_fn>("dwconv_sparse_fwd_bf16", [&](dwconv_sparse_fwd_bf16_fn fwd, Isa isa) {
        for (int64_t tile : {1, 2}) {
            CAPTURE(tile);
            const MaskedMaps m(tile, 0.6);
            const DwListsPlan& p = m.as.lists;
            const DwSparse sp{p.site.data(), p.begin.data(), p.tap.data(), p.nbr.data(), m.C, 0, (int64_t)p.site.size()};
            std::vector<float> twin((size_t)(m.N * m.img), -5.0f);
            std::vector<bf16> got(twin.size(), bf16(0x7fc1));
            fwd(got.data(), m.x.data(), m.w.data(), m.b.data(), sp);
            kernels_for(isa).dwconv_sparse_fwd(twin.data(), m.x.data(), m.w.data(), m.b.data(), sp);
            CHECK(expect_rounded_y(got, twin) == m.as.rows * m.C);
        }
    });
}

TEST_CASE("depthwise layer in bf16: each algorithm (regions dense and masked, lists, pairs) writes its fp32 output rounded") {
    for (int64_t tile : {1, 2, 4, 8}) {
        for (bool masked : {false, true}) {
            CAPTURE(tile);
            CAPTURE(masked);
            const MaskedMaps m(tile, 0.6);
            DwConv layer;
            layer.init(m.N, m.S, m.S, m.C);
            if (masked) m.as.plan_depthwise(layer);
            std::vector<float> y((size_t)(m.N * m.img), -5.0f);
            std::vector<bf16> y16(y.size(), bf16(0x7fc1));
            layer.forward(y.data(), m.x.data(), m.w.data(), m.b.data());
            layer.forward(y16.data(), m.x.data(), m.w.data(), m.b.data());
            int64_t written = 0, wrong = 0;
            for (size_t i = 0; i < y.size(); i++) {
                if (y[i] == -5.0f) continue;
                written++;
                wrong += y16[i] != bf16_from_float(y[i]);
            }
            CHECK(wrong == 0);
            CHECK(written == (masked ? m.as.rows : m.N * m.S * m.S) * m.C);
        }
    }
}
