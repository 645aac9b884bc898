#include "convnextv2/mask.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/check.h"
#include "core/rng.h"

namespace cnx {

int64_t mask_keep_count(int64_t L, double ratio) { return (int64_t)std::floor((double)L * (1.0 - ratio) + 1e-9); }

void make_mask(uint8_t* mask, int64_t N, int64_t L, double ratio, uint64_t key, int64_t first) {
    const int64_t keep = mask_keep_count(L, ratio);
    std::vector<double> noise((size_t)L);
    std::vector<int64_t> order((size_t)L);
    for (int64_t n = 0; n < N; n++) {
        Rng rng(stream_key(key, kRngMask, (uint64_t)(first + n)));
        for (int64_t l = 0; l < L; l++) {
            noise[(size_t)l] = rng.normal();
            order[(size_t)l] = l;
        }
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return noise[(size_t)a] < noise[(size_t)b]; });
        for (int64_t l = 0; l < L; l++) mask[n * L + l] = 1;
        for (int64_t k = 0; k < keep; k++) mask[n * L + order[(size_t)k]] = 0;
    }
}

// The columns [*lo, *hi) spanned by the visible sites of sample n within rows [r0, r1) x cols
// [c0, c1) (clamped to the image); false when there are none.
static bool visible_cols(const uint8_t* m, int64_t grid, int64_t tile, int64_t H, int64_t r0, int64_t r1, int64_t c0,
                         int64_t c1, int32_t* lo, int32_t* hi) {
    r0 = std::max<int64_t>(r0, 0);
    c0 = std::max<int64_t>(c0, 0);
    r1 = std::min(r1, H);
    c1 = std::min(c1, H);
    if (r0 >= r1 || c0 >= c1) return false;
    int64_t l = c1, h = c0;
    for (int64_t ty = r0 / tile; ty <= (r1 - 1) / tile; ty++)
        for (int64_t tx = c0 / tile; tx <= (c1 - 1) / tile; tx++)
            if (!m[ty * grid + tx]) {
                l = std::min(l, std::max(c0, tx * tile));
                h = std::max(h, std::min(c1, (tx + 1) * tile));
            }
    if (l >= h) return false;
    *lo = (int32_t)l;
    *hi = (int32_t)h;
    return true;
}

// The tile of patch l of sample n.
static TileRegion patch_tile(int64_t n, int64_t l, int64_t grid, int64_t tile) {
    const int64_t ty = l / grid, tx = l % grid;
    return TileRegion{(int32_t)n, (int32_t)(ty * tile), (int32_t)((ty + 1) * tile), (int32_t)(tx * tile),
                      (int32_t)((tx + 1) * tile)};
}

void ActiveSet::build(const uint8_t* mask, int64_t n_, int64_t grid_, int64_t tile_, int64_t C_) {
    N = n_;
    grid = grid_;
    tile = tile_;
    H = W = grid * tile;
    C = C_;
    const int64_t L = grid * grid;
    token.clear();
    masked.clear();
    int64_t first_count = -1;
    for (int64_t n = 0; n < N; n++) {
        int64_t count = 0;
        for (int64_t l = 0; l < L; l++) {
            const TileRegion t = patch_tile(n, l, grid, tile);
            if (mask[n * L + l]) {
                masked.push_back(t);
                continue;
            }
            count++;
            for (int64_t h = t.h0; h < t.h1; h++)
                for (int64_t w = t.w0; w < t.w1; w++) token.push_back((n * H + h) * W + w);
        }
        if (first_count < 0) first_count = count;
        CNX_CHECK(count == first_count, "every sample of a mask must keep the same number of patches");
    }
    rows = (int64_t)token.size();
    rows_per_sample = N ? rows / N : 0;
    dense_off.resize(token.size());
    for (size_t r = 0; r < token.size(); r++) dense_off[r] = token[r] * C;
    // only the work of the algorithm the depthwise runs
    algo = dw_algo(tile);
    if (algo != DwAlgo::kRegions) visible.clear();
    if (algo != DwAlgo::kLists) lists = DwListsPlan{};
    if (algo != DwAlgo::kPairs) pairs = DwPairsPlan{};
    switch (algo) {
    case DwAlgo::kRegions: return build_regions(mask);
    case DwAlgo::kLists: return build_lists(mask);
    case DwAlgo::kPairs: return build_pairs(mask);
    }
}

void ActiveSet::plan_depthwise(DwConv& dw) const {
    switch (algo) {
    case DwAlgo::kRegions: return dw.set_tiles(visible);
    case DwAlgo::kLists: return dw.set_lists(lists);
    case DwAlgo::kPairs: return dw.set_pairs(pairs);
    }
}

// Visible tile t of sample mask mn with its window of the 7x7 reach, band by band of input rows:
// the 3 rows above the tile (read only if they hold a visible site), the tile's rows, the 3 below;
// each band's columns span just its visible sites (masked sites inside a span hold zeros).
static DwTile tile_window(const uint8_t* mn, int64_t grid, int64_t tile, int64_t H, const TileRegion& t) {
    const int64_t r = kDwPad;
    DwTile d{t.n, t.h0, t.h1, t.w0, t.w1, t.h0, t.h1, t.w0, t.w1};
    visible_cols(mn, grid, tile, H, t.h0, t.h1, t.w0 - r, t.w1 + r, &d.iw0, &d.iw1);
    if (visible_cols(mn, grid, tile, H, t.h0 - r, t.h0, t.w0 - r, t.w1 + r, &d.tw0, &d.tw1))
        d.ih0 = (int32_t)std::max<int64_t>(0, t.h0 - r);
    if (visible_cols(mn, grid, tile, H, t.h1, t.h1 + r, t.w0 - r, t.w1 + r, &d.bw0, &d.bw1))
        d.ih1 = (int32_t)std::min(H, (int64_t)t.h1 + r);
    return d;
}

void ActiveSet::build_regions(const uint8_t* mask) {
    const int64_t L = grid * grid;
    visible.clear();
    for (int64_t n = 0; n < N; n++)
        for (int64_t l = 0; l < L; l++) {
            if (mask[n * L + l]) continue;
            const DwTile d = tile_window(mask + n * L, grid, tile, H, patch_tile(n, l, grid, tile));
            // Side-by-side visible tiles of a tile row merge into one region with the union window:
            // fewer, wider calls, longer register blocks.
            DwTile* last = visible.empty() ? nullptr : &visible.back();
            auto join = [](int32_t* lo, int32_t* hi, int32_t lo2, int32_t hi2) {
                if (lo2 < 0) return;
                *lo = *lo < 0 ? lo2 : std::min(*lo, lo2);
                *hi = std::max(*hi, hi2);
            };
            if (last && last->n == d.n && last->h0 == d.h0 && last->w1 == d.w0) {
                last->w1 = d.w1;
                last->ih0 = std::min(last->ih0, d.ih0);
                last->ih1 = std::max(last->ih1, d.ih1);
                last->iw1 = d.iw1;
                join(&last->tw0, &last->tw1, d.tw0, d.tw1);
                join(&last->bw0, &last->bw1, d.bw0, d.bw1);
            } else {
                visible.push_back(d);
            }
        }
}

void ActiveSet::build_lists(const uint8_t* mask) {
    CNX_CHECK(N * H * W < (int64_t)INT32_MAX, "map too large for 32-bit token indices");
    const int64_t L = grid * grid;
    auto visible_at = [&](int64_t n, int64_t h, int64_t w) { return mask[n * L + (h / tile) * grid + w / tile] == 0; };
    lists.site.assign(token.begin(), token.end());
    lists.begin.assign(1, 0);
    lists.tap.clear();
    lists.nbr.clear();
    for (int64_t t : token) {
        const int64_t n = t / (H * W), h = (t / W) % H, w = t % W;
        for (int i = 0; i < kDwK; i++)
            for (int j = 0; j < kDwK; j++) {
                const int64_t hh = h + i - kDwPad, ww = w + j - kDwPad;
                if (hh < 0 || hh >= H || ww < 0 || ww >= W || !visible_at(n, hh, ww)) continue;
                lists.tap.push_back(i * kDwK + j);
                lists.nbr.push_back((int32_t)((n * H + hh) * W + ww));
            }
        lists.begin.push_back((int32_t)lists.tap.size());
    }
}

void ActiveSet::build_pairs(const uint8_t* mask) {
    CNX_CHECK(tile == kDwPairTile, "tile pairs need tiles of kDwPairTile tokens a side");
    CNX_CHECK(N * H * W < (int64_t)INT32_MAX, "map too large for 32-bit token indices");
    const int64_t L = grid * grid;
    pairs.begin.clear();
    pairs.tile.clear();
    pairs.out.clear();
    pairs.in.clear();
    // Class by class; visible tiles in compact order (tile p holds rows [4p, 4p + 4)).
    const int64_t tiles = (int64_t)token.size() / (tile * tile);
    auto tile_of = [&](int64_t p, int64_t* n, int64_t* ty, int64_t* tx) {
        const int64_t t = token[(size_t)(p * tile * tile)];
        *n = t / (H * W);
        *ty = (t / W) % H / tile;
        *tx = t % W / tile;
    };
    // products of a class that land inside the kernel: 4 per axis when |d| <= 1, 1 when |d| = 2
    auto products = [](int dy, int dx) { return (std::abs(dy) == 2 ? 1 : 4) * (std::abs(dx) == 2 ? 1 : 4); };
    pairs.cost.assign((size_t)tiles + 1, 0);
    for (int k = 0; k < kDwPairClasses; k++) {
        const int dy = k / 5 - 2, dx = k % 5 - 2;
        pairs.begin.push_back((int32_t)pairs.tile.size());
        for (int64_t p = 0; p < tiles; p++) {
            int64_t n, ty, tx;
            tile_of(p, &n, &ty, &tx);
            const int64_t qy = ty + dy, qx = tx + dx;
            if (qy < 0 || qy >= grid || qx < 0 || qx >= grid || mask[n * L + qy * grid + qx]) continue;
            pairs.tile.push_back((int32_t)p);
            pairs.out.push_back((int32_t)token[(size_t)(p * tile * tile)]);
            pairs.in.push_back((int32_t)((n * H + qy * tile) * W + qx * tile));
            pairs.cost[(size_t)p + 1] += products(dy, dx);
        }
    }
    pairs.begin.push_back((int32_t)pairs.tile.size());
    for (int64_t p = 0; p < tiles; p++) pairs.cost[(size_t)p + 1] += pairs.cost[(size_t)p];
}

void masked_patch_offsets(std::vector<int64_t>& off, const ActiveSet& prev, const ActiveSet& next) {
    CNX_CHECK(prev.tile == 2 * next.tile && prev.grid == next.grid, "downsample between unrelated active sets");
    const int64_t tp = prev.tile, tn = next.tile, Cp = prev.C;
    off.resize((size_t)prev.rows);
    // Compact rows come tile by tile in the same patch order at both stages: tile i of prev holds
    // rows [i*tp^2, (i+1)*tp^2) and tile i of next rows [i*tn^2, (i+1)*tn^2).
    for (int64_t r = 0; r < prev.rows; r++) {
        const int64_t i = r / (tp * tp), in = r % (tp * tp);
        const int64_t py = in / tp, px = in % tp;
        const int64_t next_row = i * tn * tn + (py / 2) * tn + (px / 2);
        off[(size_t)r] = next_row * 4 * Cp + ((py % 2) * 2 + (px % 2)) * Cp;
    }
}

}  // namespace cnx
