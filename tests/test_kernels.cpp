// Every kernel variant of simd/kernels.inc against a plain double-precision formula, through one
// tester per family. Variants the CPU lacks are skipped with a message, never passed silently.
// Sizes: channel counts 1..33, primes and the ConvNeXt widths; misaligned pointers; mostly-zero
// outputs are rejected as untrustworthy.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "convnextv2/mask.h"
#include "core/rng.h"
#include "nn/dwconv.h"
#include "nn/grn.h"
#include "nn/parallel.h"
#include "simd/kernels.h"
#include "tests/util.h"

using namespace cnx;

namespace {

// Rows of the family the CPU can run; prints the skipped ones once.
std::vector<KernelRow> runnable(const char* family) {
    static std::set<std::string> warned;
    std::vector<KernelRow> out;
    for (const KernelRow& r : kernel_rows(family)) {
        if (isa_supported(r.isa)) {
            out.push_back(r);
        } else if (warned.insert(r.name).second) {
            std::printf("SKIPPED %s: this CPU/OS lacks %s\n", r.name.c_str(), isa_name(r.isa));
        }
    }
    REQUIRE(!out.empty());
    return out;
}

// Channel counts that probe every tail: 1..33, primes, and the ConvNeXt widths (x4 for MLP widths).
std::vector<int64_t> channel_counts() {
    std::vector<int64_t> c;
    for (int64_t i = 1; i <= 33; i++) c.push_back(i);
    for (int64_t p : {37, 61, 97, 127}) c.push_back(p);
    for (int64_t w : {40, 48, 64, 80, 96, 128, 160, 192, 320, 384, 640, 768, 1536, 3072}) c.push_back(w);
    return c;
}

// A buffer with `offset` floats of misalignment in front (and canaries around it).
struct Buf {
    std::vector<float> mem;
    int64_t off, n;
    Buf(int64_t n_, int64_t offset, float fill = 0.0f) : mem((size_t)(n_ + offset + 32), 12345.0f), off(offset + 16), n(n_) {
        for (int64_t i = 0; i < n; i++) mem[(size_t)(off + i)] = fill;
    }
    float* p() { return mem.data() + off; }
    bool canaries_intact() const {
        for (int64_t i = 0; i < off; i++)
            if (mem[(size_t)i] != 12345.0f) return false;
        for (size_t i = (size_t)(off + n); i < mem.size(); i++)
            if (mem[i] != 12345.0f) return false;
        return true;
    }
};

void fill(float* p, int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v = test::random_vector(n, seed, lo, hi);
    for (int64_t i = 0; i < n; i++) p[i] = v[(size_t)i];
}

// At least a tenth of the outputs must be non-zero for a comparison to prove anything.
void check_trustworthy(const test::Compare& c, int64_t n) { CHECK_MESSAGE(c.nonzero * 10 >= n, "output mostly zero: untrustworthy"); }

}  // namespace

TEST_CASE("gelu: every variant against the double-precision formula") {
    for (const KernelRow& row : runnable("gelu_fwd")) {
        auto fwd = kernel_fn<gelu_fwd_fn>(row);
        CAPTURE(row.name);
        for (int64_t n : {1, 7, 15, 16, 17, 33, 100, 1000, 4099}) {
            for (int64_t off : {0, 1, 7}) {
                Buf x(n, off), y(n, off);
                fill(x.p(), n, (uint64_t)n, -9.0f, 9.0f);
                if (n > 8) {  // the tails and the origin exactly
                    x.p()[0] = -15.0f;
                    x.p()[1] = 0.0f;
                    x.p()[2] = -5.5f;
                    x.p()[3] = 12.0f;
                }
                fwd(y.p(), x.p(), n);
                std::vector<double> want((size_t)n);
                for (int64_t i = 0; i < n; i++) {
                    double v = x.p()[i];
                    want[(size_t)i] = 0.5 * v * std::erfc(-v / std::sqrt(2.0));
                }
                CAPTURE(n);
                CAPTURE(off);
                auto c = test::compare(y.p(), want.data(), n, 6e-7, 1e-37);
                CHECK_CLOSE(c, y.p(), (const float*)nullptr);
                check_trustworthy(c, n);
                CHECK(y.canaries_intact());
            }
        }
    }
    for (const KernelRow& row : runnable("gelu_bwd")) {
        auto bwd = kernel_fn<gelu_bwd_fn>(row);
        CAPTURE(row.name);
        for (int64_t n : {1, 5, 16, 31, 257, 4099}) {
            Buf x(n, 3), dy(n, 1), dx(n, 2);
            fill(x.p(), n, 11 + (uint64_t)n, -9.0f, 9.0f);
            fill(dy.p(), n, 13 + (uint64_t)n);
            bwd(dx.p(), dy.p(), x.p(), n);
            std::vector<double> want((size_t)n);
            for (int64_t i = 0; i < n; i++) {
                double v = x.p()[i];
                double d = 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
                want[(size_t)i] = dy.p()[i] * d;
            }
            CAPTURE(n);
            // gelu' crosses zero near x = -0.75: an absolute floor there.
            auto c = test::compare(dx.p(), want.data(), n, 1e-6, 1e-7);
            CHECK_CLOSE(c, dx.p(), (const float*)nullptr);
            check_trustworthy(c, n);
            CHECK(dx.canaries_intact());
            // in place (dx aliases dy)
            std::vector<float> dyc(dy.p(), dy.p() + n);
            bwd(dy.p(), dy.p(), x.p(), n);
            CHECK(test::compare(dy.p(), dx.p(), n, 0, 0).ok);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// depthwise 7x7

namespace {

struct DwCase {
    int64_t H, W, C;
    int64_t h0, h1, w0, w1;
    int64_t ih0 = -1, ih1 = -1, iw0 = -1, iw1 = -1;  // input window; -1: the whole image
    int64_t tw0 = -1, tw1 = -1, bw0 = -1, bw1 = -1;  // top and bottom band columns; -1: [iw0, iw1)
    DwGeom geom() const {
        return DwGeom{H, W, C, h0, h1, w0, w1, ih0 < 0 ? 0 : ih0, ih1 < 0 ? H : ih1, iw0 < 0 ? 0 : iw0, iw1 < 0 ? W : iw1,
                      tw0, tw1, bw0, bw1};
    }
};

// Rows above the region read columns [tw0, tw1), rows below [bw0, bw1), the region's rows [iw0, iw1).
bool in_window(const DwGeom& g, int64_t h, int64_t w) {
    int64_t lo = g.iw0, hi = g.iw1;
    if (h < g.h0 && g.tw0 >= 0) lo = g.tw0, hi = g.tw1;
    if (h >= g.h1 && g.bw0 >= 0) lo = g.bw0, hi = g.bw1;
    return h >= g.ih0 && h < g.ih1 && w >= lo && w < hi;
}

// Double-precision formulas over one region.
void dw_fwd_formula(std::vector<double>& out, const float* src, const float* wei, const float* bias, const DwCase& k) {
    const DwGeom g = k.geom();
    for (int64_t h = k.h0; h < k.h1; h++)
        for (int64_t w = k.w0; w < k.w1; w++)
            for (int64_t c = 0; c < k.C; c++) {
                double s = bias[c];
                for (int i = 0; i < 7; i++)
                    for (int j = 0; j < 7; j++) {
                        int64_t hi = h + i - 3, wi = w + j - 3;
                        if (in_window(g, hi, wi)) s += (double)wei[(i * 7 + j) * k.C + c] * src[(hi * k.W + wi) * k.C + c];
                    }
                out[(size_t)((h * k.W + w) * k.C + c)] = s;
            }
}

void dw_bwd_data_formula(std::vector<double>& d_src, const float* d_dst, const float* wei, const DwCase& k) {
    const DwGeom g = k.geom();
    for (int64_t h = k.h0; h < k.h1; h++)
        for (int64_t w = k.w0; w < k.w1; w++)
            for (int64_t c = 0; c < k.C; c++) {
                double s = d_src[(size_t)((h * k.W + w) * k.C + c)];
                for (int i = 0; i < 7; i++)
                    for (int j = 0; j < 7; j++) {
                        int64_t ho = h - i + 3, wo = w - j + 3;
                        if (in_window(g, ho, wo)) s += (double)wei[(i * 7 + j) * k.C + c] * d_dst[(ho * k.W + wo) * k.C + c];
                    }
                d_src[(size_t)((h * k.W + w) * k.C + c)] = s;
            }
}

void dw_bwd_wei_formula(std::vector<double>& d_wei, std::vector<double>& d_bias, const float* d_dst, const float* src,
                        const DwCase& k) {
    const DwGeom g = k.geom();
    for (int64_t h = k.h0; h < k.h1; h++)
        for (int64_t w = k.w0; w < k.w1; w++)
            for (int64_t c = 0; c < k.C; c++) {
                double gr = d_dst[(h * k.W + w) * k.C + c];
                d_bias[(size_t)c] += gr;
                for (int i = 0; i < 7; i++)
                    for (int j = 0; j < 7; j++) {
                        int64_t hi = h + i - 3, wi = w + j - 3;
                        if (in_window(g, hi, wi)) d_wei[(size_t)((i * 7 + j) * k.C + c)] += gr * src[(hi * k.W + wi) * k.C + c];
                    }
            }
}

// Checks all three dwconv directions of one ISA on one case. With `integers`, inputs are small
// integers and every result must be exact (accumulation is exact in fp32).
void check_dw_case(const KernelRow& fwd_row, const KernelRow& data_row, const KernelRow& wei_row, const DwCase& k,
                   int64_t misalign, bool integers, uint64_t seed) {
    auto fwd = kernel_fn<dwconv_fwd_fn>(fwd_row);
    auto bwd_data = kernel_fn<dwconv_bwd_data_fn>(data_row);
    auto bwd_wei = kernel_fn<dwconv_bwd_wei_fn>(wei_row);
    const int64_t n = k.H * k.W * k.C;
    Buf src(n, misalign), wei(49 * k.C, misalign), bias(k.C, misalign), dst(n, misalign), gdst(n, misalign),
        gsrc(n, misalign), gwei(49 * k.C, misalign), gbias(k.C, misalign);
    auto fillv = [&](float* p, int64_t m, uint64_t s) {
        if (!integers) return fill(p, m, s);
        Rng r(stream_key(s, 5));
        for (int64_t i = 0; i < m; i++) p[i] = (float)((int)r.below(7) - 3);
    };
    fillv(src.p(), n, seed + 1);
    fillv(wei.p(), 49 * k.C, seed + 2);
    fillv(bias.p(), k.C, seed + 3);
    fillv(gdst.p(), n, seed + 4);
    fillv(gsrc.p(), n, seed + 5);  // backward-data accumulates into existing values
    fillv(gwei.p(), 49 * k.C, seed + 6);
    fillv(gbias.p(), k.C, seed + 7);
    const double rtol = integers ? 0 : 2e-5, atol = integers ? 0 : 2e-5;
    CAPTURE(k.H);
    CAPTURE(k.W);
    CAPTURE(k.C);
    CAPTURE(k.h0);
    CAPTURE(k.h1);
    CAPTURE(k.w0);
    CAPTURE(k.w1);
    CAPTURE(k.ih0);
    CAPTURE(k.iw1);
    CAPTURE(misalign);

    // forward: only the region is written
    for (int64_t i = 0; i < n; i++) dst.p()[i] = -777.0f;
    fwd(dst.p(), src.p(), wei.p(), bias.p(), k.geom());
    std::vector<double> want((size_t)n, -777.0);
    dw_fwd_formula(want, src.p(), wei.p(), bias.p(), k);
    auto c1 = test::compare(dst.p(), want.data(), n, rtol, atol);
    CHECK_CLOSE(c1, dst.p(), (const float*)nullptr);
    CHECK(dst.canaries_intact());

    std::vector<double> want_src(gsrc.p(), gsrc.p() + n);
    bwd_data(gsrc.p(), gdst.p(), wei.p(), k.geom());
    dw_bwd_data_formula(want_src, gdst.p(), wei.p(), k);
    CHECK_CLOSE(test::compare(gsrc.p(), want_src.data(), n, rtol, atol), gsrc.p(), (const float*)nullptr);
    CHECK(gsrc.canaries_intact());

    std::vector<double> want_wei(gwei.p(), gwei.p() + 49 * k.C), want_bias(gbias.p(), gbias.p() + k.C);
    bwd_wei(gwei.p(), gbias.p(), gdst.p(), src.p(), k.geom());
    dw_bwd_wei_formula(want_wei, want_bias, gdst.p(), src.p(), k);
    auto c3 = test::compare(gwei.p(), want_wei.data(), 49 * k.C, integers ? 0 : 1e-4, integers ? 0 : 1e-4);
    CHECK_CLOSE(c3, gwei.p(), (const float*)nullptr);
    check_trustworthy(c3, 49 * k.C);
    CHECK_CLOSE(test::compare(gbias.p(), want_bias.data(), k.C, integers ? 0 : 1e-4, integers ? 0 : 1e-4), gbias.p(),
                (const float*)nullptr);
    CHECK(gwei.canaries_intact());
    CHECK(gbias.canaries_intact());
}

// The three direction rows of one ISA.
struct DwVariant {
    KernelRow fwd, data, wei;
    KernelRow sparse_fwd, sparse_data, sparse_wei;  // the neighbour-list kernels of the same ISA
    KernelRow pairs_fwd, pairs_data, pairs_wei;     // the tile-pair kernels of the same ISA
};

std::vector<DwVariant> dw_variants() {
    std::vector<DwVariant> out;
    for (const KernelRow& f : runnable("dwconv_fwd")) {
        DwVariant v{f, f, f, f, f, f, f, f, f};
        auto same_isa = [&](const char* family, KernelRow& out) {
            bool found = false;
            for (const KernelRow& r : kernel_rows(family))
                if (r.isa == f.isa) out = r, found = true;
            REQUIRE_MESSAGE(found, family, " has no ", isa_name(f.isa), " row");
        };
        same_isa("dwconv_bwd_data", v.data);
        same_isa("dwconv_bwd_wei", v.wei);
        same_isa("dwconv_sparse_fwd", v.sparse_fwd);
        same_isa("dwconv_sparse_bwd_data", v.sparse_data);
        same_isa("dwconv_sparse_bwd_wei", v.sparse_wei);
        same_isa("dwconv_pairs_fwd", v.pairs_fwd);
        same_isa("dwconv_pairs_bwd_data", v.pairs_data);
        same_isa("dwconv_pairs_bwd_wei", v.pairs_wei);
        out.push_back(v);
    }
    return out;
}

}  // namespace

TEST_CASE("dwconv 7x7: every variant against the formula, whole images and sub-regions") {
    for (const DwVariant& v : dw_variants()) {
        CAPTURE(v.fwd.name);
        uint64_t seed = 1;
        for (int64_t S : {1, 2, 3, 7, 8, 13, 14, 28, 56}) {
            std::vector<int64_t> chans;
            if (S == 7) {
                for (int64_t c = 1; c <= 33; c++) chans.push_back(c);
                for (int64_t c : {37, 61, 97, 40, 48, 80, 96, 160, 192, 320, 384}) chans.push_back(c);
            } else if (S <= 3) {  // the widest ConvNeXt layers (huge's stage 4 has 2816 channels)
                chans = {1, 3, 8, 15, 16, 17, 31, 33, 40, 61, 80, 640, 768, 1408, 1536, 2816, 3072};
            } else if (S <= 14) {
                chans = {1, 3, 8, 15, 16, 17, 31, 33, 40, 61, 80};
            } else {
                chans = {1, 17, 40};
            }
            for (int64_t C : chans) {
                check_dw_case(v.fwd, v.data, v.wei, DwCase{S, S, C, 0, S, 0, S}, (C + S) % 3 == 0 ? 1 : 0, false, seed++);
                if (S >= 7) {  // an interior band and a tile touching one border; a tile with a narrowed window
                    check_dw_case(v.fwd, v.data, v.wei, DwCase{S, S, C, 2, S - 1, S / 2, S}, 7, false, seed++);
                    check_dw_case(v.fwd, v.data, v.wei, DwCase{S, S, C, 2, S - 2, 1, S - 3, 2, S - 1, 0, S - 3}, 1, false, seed++);
                    // top and bottom bands with columns of their own (wider and narrower than the rows')
                    check_dw_case(v.fwd, v.data, v.wei,
                                  DwCase{S, S, C, 3, S - 3, 2, S - 2, 0, S, 1, S - 3, 0, S - 2, 3, S}, 2, false, seed++);
                }
            }
        }
        // non-square, stride of rows != width of the region
        check_dw_case(v.fwd, v.data, v.wei, DwCase{5, 23, 24, 1, 4, 3, 19}, 3, false, seed++);
        // exact small-integer case (benchdnn style)
        check_dw_case(v.fwd, v.data, v.wei, DwCase{13, 13, 40, 0, 13, 0, 13}, 0, true, seed++);
        check_dw_case(v.fwd, v.data, v.wei, DwCase{28, 28, 19, 4, 12, 8, 16}, 1, true, seed++);
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

TEST_CASE("layernorm: every variant against the formula, contiguous and gathered rows") {
    const auto fwd_rows = runnable("layernorm_fwd");
    const auto bwd_rows = runnable("layernorm_bwd");
    for (size_t v = 0; v < fwd_rows.size(); v++) {
        auto fwd = kernel_fn<layernorm_fwd_fn>(fwd_rows[v]);
        auto bwd = kernel_fn<layernorm_bwd_fn>(bwd_rows[v]);
        CAPTURE(fwd_rows[v].name);
        for (int64_t C : channel_counts()) {
            for (bool gather : {false, true}) {
                const int64_t rows = C > 500 ? 3 : 9;
                const int64_t misalign = C % 3;
                // gathered: rows live at scattered offsets of a larger buffer (stride 2C, reversed)
                const int64_t span = gather ? rows * 2 * C : rows * C;
                std::vector<int64_t> off((size_t)rows);
                for (int64_t r = 0; r < rows; r++) off[(size_t)r] = (rows - 1 - r) * 2 * C + (r % 2) * C;
                const int64_t* offs = gather ? off.data() : nullptr;
                Buf x(span, misalign), y(span, misalign), g(C, misalign), b(C, misalign), dy(span, misalign),
                    dx(span, misalign), dg(C, misalign), db(C, misalign);
                fill(x.p(), span, (uint64_t)C * 3 + 1, -2.0f, 3.0f);  // non-zero mean
                fill(g.p(), C, (uint64_t)C * 3 + 2, 0.5f, 1.5f);
                fill(b.p(), C, (uint64_t)C * 3 + 3);
                fill(dy.p(), span, (uint64_t)C * 3 + 4);
                std::vector<float> mean((size_t)rows), rstd((size_t)rows);
                fwd(Rows(y.p(), offs), mean.data(), rstd.data(), ConstRows(x.p(), offs), g.p(), b.p(), rows, C, 1e-6f);
                std::vector<double> want_y(y.p(), y.p() + span), want_dx(dx.p(), dx.p() + span);
                std::vector<double> want_dg((size_t)C, 0.0), want_db((size_t)C, 0.0);
                for (int64_t r = 0; r < rows; r++) {
                    const int64_t o = offs ? offs[r] : r * C;
                    double mu = 0, var = 0;
                    for (int64_t c = 0; c < C; c++) mu += x.p()[o + c];
                    mu /= (double)C;
                    for (int64_t c = 0; c < C; c++) var += (x.p()[o + c] - mu) * (x.p()[o + c] - mu);
                    var /= (double)C;
                    const double rs = 1.0 / std::sqrt(var + 1e-6);
                    CHECK(mean[(size_t)r] == doctest::Approx(mu).epsilon(1e-5).scale(1.0));
                    CHECK(rstd[(size_t)r] == doctest::Approx(rs).epsilon(1e-5));
                    double sg = 0, sgx = 0;
                    for (int64_t c = 0; c < C; c++) {
                        const double xh = (x.p()[o + c] - mu) * rs;
                        want_y[(size_t)(o + c)] = xh * g.p()[c] + b.p()[c];
                        sg += (double)dy.p()[o + c] * g.p()[c];
                        sgx += (double)dy.p()[o + c] * g.p()[c] * xh;
                        want_dg[(size_t)c] += (double)dy.p()[o + c] * xh;
                        want_db[(size_t)c] += dy.p()[o + c];
                    }
                    for (int64_t c = 0; c < C; c++) {
                        const double xh = (x.p()[o + c] - mu) * rs;
                        want_dx[(size_t)(o + c)] = rs * ((double)dy.p()[o + c] * g.p()[c] - sg / (double)C - xh * sgx / (double)C);
                    }
                }
                CAPTURE(C);
                CAPTURE(gather);
                auto cy = test::compare(y.p(), want_y.data(), span, 2e-5, 2e-5);
                CHECK_CLOSE(cy, y.p(), (const float*)nullptr);
                CHECK(y.canaries_intact());
                bwd(Rows(dx.p(), offs), dg.p(), db.p(), ConstRows(dy.p(), offs), ConstRows(x.p(), offs), mean.data(),
                    rstd.data(), g.p(), rows, C);
                auto cdx = test::compare(dx.p(), want_dx.data(), span, 1e-4, 1e-4);
                CHECK_CLOSE(cdx, dx.p(), (const float*)nullptr);
                if (C > 1) check_trustworthy(cdx, rows * C);
                CHECK_CLOSE(test::compare(dg.p(), want_dg.data(), C, 1e-4, 1e-4), dg.p(), (const float*)nullptr);
                CHECK_CLOSE(test::compare(db.p(), want_db.data(), C, 1e-4, 1e-4), db.p(), (const float*)nullptr);
                CHECK(dx.canaries_intact());
                CHECK(dg.canaries_intact());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GRN passes

TEST_CASE("grn: every variant of each pass against the formula") {
    const char* fams[] = {"grn_sumsq", "grn_apply", "grn_bwd_reduce", "grn_bwd_apply"};
    std::vector<std::vector<KernelRow>> rows_by_fam;
    for (const char* f : fams) rows_by_fam.push_back(runnable(f));
    for (size_t v = 0; v < rows_by_fam[0].size(); v++) {
        auto sumsq = kernel_fn<grn_sumsq_fn>(rows_by_fam[0][v]);
        auto apply = kernel_fn<grn_apply_fn>(rows_by_fam[1][v]);
        auto reduce = kernel_fn<grn_bwd_reduce_fn>(rows_by_fam[2][v]);
        auto bapply = kernel_fn<grn_bwd_apply_fn>(rows_by_fam[3][v]);
        CAPTURE(rows_by_fam[0][v].name);
        for (int64_t C : channel_counts()) {
            for (int64_t rows : {1, 2, 7, 49}) {
                if (C * rows > 200000) continue;
                const int64_t n = rows * C, mis = (C + rows) % 4;
                Buf x(n, mis), y(n, mis), dy(n, mis), dx(n, mis), nx(C, mis), ga(C, mis), be(C, mis), k(C, mis),
                    ss(C, mis), s(C, mis), b(C, mis);
                fill(x.p(), n, (uint64_t)(C * 7 + rows));
                fill(dy.p(), n, (uint64_t)(C * 7 + rows + 1));
                fill(nx.p(), C, 3, 0.2f, 2.0f);
                fill(ga.p(), C, 4);
                fill(be.p(), C, 5);
                fill(k.p(), C, 6);
                fill(ss.p(), C, 7, 0.0f, 1.0f);  // the passes accumulate into what is there
                fill(s.p(), C, 8);
                fill(b.p(), C, 9);
                std::vector<double> w_ss(ss.p(), ss.p() + C), w_s(s.p(), s.p() + C), w_b(b.p(), b.p() + C);
                std::vector<double> w_y((size_t)n), w_dx((size_t)n);
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < C; c++) {
                        const double xv = x.p()[r * C + c], g = dy.p()[r * C + c];
                        w_ss[(size_t)c] += xv * xv;
                        w_s[(size_t)c] += g * xv;
                        w_b[(size_t)c] += g;
                        w_y[(size_t)(r * C + c)] = ga.p()[c] * (xv * nx.p()[c]) + be.p()[c] + xv;
                        w_dx[(size_t)(r * C + c)] = g * (1.0 + (double)ga.p()[c] * nx.p()[c]) + xv * k.p()[c];
                    }
                sumsq(ss.p(), x.p(), rows, C);
                apply(y.p(), x.p(), nx.p(), ga.p(), be.p(), rows, C);
                reduce(s.p(), b.p(), dy.p(), x.p(), rows, C);
                bapply(dx.p(), dy.p(), x.p(), nx.p(), ga.p(), k.p(), rows, C);
                CAPTURE(C);
                CAPTURE(rows);
                CHECK_CLOSE(test::compare(ss.p(), w_ss.data(), C, 1e-5, 1e-5), ss.p(), (const float*)nullptr);
                auto cy = test::compare(y.p(), w_y.data(), n, 1e-5, 1e-6);
                CHECK_CLOSE(cy, y.p(), (const float*)nullptr);
                check_trustworthy(cy, n);
                CHECK_CLOSE(test::compare(s.p(), w_s.data(), C, 1e-4, 1e-5), s.p(), (const float*)nullptr);
                CHECK_CLOSE(test::compare(b.p(), w_b.data(), C, 1e-4, 1e-5), b.p(), (const float*)nullptr);
                CHECK_CLOSE(test::compare(dx.p(), w_dx.data(), n, 1e-5, 1e-6), dx.p(), (const float*)nullptr);
                for (Buf* bb : {&x, &y, &dy, &dx, &nx, &ss, &s, &b}) CHECK(bb->canaries_intact());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AdamW

TEST_CASE("adamw: every variant against PyTorch's update formula") {
    for (const KernelRow& row : runnable("adamw")) {
        auto fn = kernel_fn<adamw_fn>(row);
        CAPTURE(row.name);
        for (int64_t n : {1, 15, 16, 17, 100, 1031}) {
            Buf p(n, 1), m(n, 2), v(n, 3), g(n, 0);
            fill(p.p(), n, 1);
            fill(m.p(), n, 2, -0.1f, 0.1f);
            fill(v.p(), n, 3, 0.0f, 0.01f);
            fill(g.p(), n, 4);
            std::vector<double> wp((size_t)n), wm((size_t)n), wv((size_t)n);
            const AdamWStep s = adamw_step(1e-3, 0.05, 0.9, 0.999, 1e-8, 3);
            const double bc1 = 1 - std::pow(0.9, 3), bc2 = 1 - std::pow(0.999, 3);
            for (int64_t i = 0; i < n; i++) {
                double pp = (double)p.p()[i] * (1.0 - 1e-3 * 0.05);
                double mm = 0.9 * m.p()[i] + 0.1 * g.p()[i];
                double vv = 0.999 * v.p()[i] + 0.001 * (double)g.p()[i] * g.p()[i];
                wp[(size_t)i] = pp - (1e-3 / bc1) * mm / (std::sqrt(vv) / std::sqrt(bc2) + 1e-8);
                wm[(size_t)i] = mm;
                wv[(size_t)i] = vv;
            }
            fn(p.p(), m.p(), v.p(), g.p(), n, &s);
            CAPTURE(n);
            CHECK_CLOSE(test::compare(p.p(), wp.data(), n, 1e-6, 1e-7), p.p(), (const float*)nullptr);
            CHECK_CLOSE(test::compare(m.p(), wm.data(), n, 1e-6, 1e-8), m.p(), (const float*)nullptr);
            CHECK_CLOSE(test::compare(v.p(), wv.data(), n, 1e-6, 1e-10), v.p(), (const float*)nullptr);
            CHECK(p.canaries_intact());
            CHECK(v.canaries_intact());
        }
    }
}

TEST_CASE("dwconv 7x7 over the visible tiles of masks (ratios 0, 0.6, 1): equals the dense conv of the masked input") {
    for (const DwVariant& v : dw_variants()) {
        auto fwd = kernel_fn<dwconv_fwd_fn>(v.fwd);
        auto bwd_data = kernel_fn<dwconv_bwd_data_fn>(v.data);
        auto bwd_wei = kernel_fn<dwconv_bwd_wei_fn>(v.wei);
        auto sparse_fwd = kernel_fn<dwconv_sparse_fwd_fn>(v.sparse_fwd);
        auto sparse_data = kernel_fn<dwconv_sparse_bwd_data_fn>(v.sparse_data);
        auto sparse_wei = kernel_fn<dwconv_sparse_bwd_wei_fn>(v.sparse_wei);
        auto pairs_fwd = kernel_fn<dwconv_pairs_fwd_fn>(v.pairs_fwd);
        auto pairs_data = kernel_fn<dwconv_pairs_bwd_data_fn>(v.pairs_data);
        auto pairs_wei = kernel_fn<dwconv_pairs_bwd_wei_fn>(v.pairs_wei);
        CAPTURE(v.fwd.name);
        for (int64_t tile : {1, 2, 4, 8}) {
            for (double ratio : {0.0, 0.6, 1.0}) {
                // C = 150 at tile 1: whole 8-vector chunks, single vectors and a tail in the list kernels
                const int64_t N = 3, grid = tile >= 4 ? 4 : 7, S = grid * tile, C = tile == 8 ? 19 : tile == 1 ? 150 : 40;
                CAPTURE(tile);
                CAPTURE(ratio);
                std::vector<uint8_t> mask((size_t)(N * grid * grid));
                make_mask(mask.data(), N, grid * grid, ratio, 100 + (uint64_t)tile);
                ActiveSet as;
                as.build(mask.data(), N, grid, tile, C);
                // the set holds only the work of the algorithm its tiles take; the others are built
                // here, so that each algorithm's kernels are checked at every tile size they can run
                CHECK(as.algo == (tile == 1 ? DwAlgo::kLists : tile == 2 ? DwAlgo::kPairs : DwAlgo::kRegions));
                CHECK(as.lists.begin.empty() == (as.algo != DwAlgo::kLists));
                CHECK(as.pairs.begin.empty() == (as.algo != DwAlgo::kPairs));
                if (as.algo != DwAlgo::kRegions) {
                    CHECK(as.visible.empty());
                    as.build_regions(mask.data());
                }
                if (tile <= kDwSparseTile && as.algo != DwAlgo::kLists) as.build_lists(mask.data());
                const int64_t img = S * S * C;
                std::vector<float> x = test::random_vector(N * img, 1 + (uint64_t)tile), gy = test::random_vector(N * img, 2);
                std::vector<float> w = test::random_vector(49 * C, 3), b = test::random_vector(C, 4);
                // masked sites of the input (and of the output gradient) hold zeros
                for (const TileRegion& t : as.masked)
                    for (int64_t h = t.h0; h < t.h1; h++)
                        for (int64_t ww = t.w0; ww < t.w1; ww++)
                            for (int64_t c = 0; c < C; c++) {
                                x[(size_t)(t.n * img + (h * S + ww) * C + c)] = 0;
                                gy[(size_t)(t.n * img + (h * S + ww) * C + c)] = 0;
                            }
                std::vector<float> y((size_t)(N * img), -5.0f), gx((size_t)(N * img), 0.0f), gw((size_t)(49 * C), 0.0f),
                    gb((size_t)C, 0.0f);
                for (const DwTile& t : as.visible) {
                    const DwGeom g = dw_tile_geom(t, S, S, C);
                    fwd(y.data() + t.n * img, x.data() + t.n * img, w.data(), b.data(), g);
                    bwd_data(gx.data() + t.n * img, gy.data() + t.n * img, w.data(), g);
                    bwd_wei(gw.data(), gb.data(), gy.data() + t.n * img, x.data() + t.n * img, g);
                }
                // a tile in calls of 3 rows, keeping the tile's bands (as the layer runs large maps):
                // the same values, bit for bit
                {
                    std::vector<float> ry((size_t)(N * img), -5.0f), rgx((size_t)(N * img), 0.0f);
                    for (const DwTile& t : as.visible) {
                        DwGeom g = dw_tile_geom(t, S, S, C);
                        g.band_h0 = t.h0;
                        g.band_h1 = t.h1;
                        for (int64_t h = t.h0; h < t.h1; h += 3) {
                            g.h0 = h;
                            g.h1 = std::min<int64_t>(t.h1, h + 3);
                            fwd(ry.data() + t.n * img, x.data() + t.n * img, w.data(), b.data(), g);
                            bwd_data(rgx.data() + t.n * img, gy.data() + t.n * img, w.data(), g);
                        }
                    }
                    CHECK(ry == y);
                    CHECK(rgx == gx);
                }
                // dense formulas over whole images, compared at the visible sites
                std::vector<double> wy((size_t)(N * img)), wgx((size_t)(N * img), 0.0), wgw((size_t)(49 * C), 0.0), wgb((size_t)C, 0.0);
                for (int64_t n = 0; n < N; n++) {
                    DwCase k{S, S, C, 0, S, 0, S};
                    std::vector<double> o((size_t)img), d((size_t)img, 0.0);
                    dw_fwd_formula(o, x.data() + n * img, w.data(), b.data(), k);
                    dw_bwd_data_formula(d, gy.data() + n * img, w.data(), k);
                    dw_bwd_wei_formula(wgw, wgb, gy.data() + n * img, x.data() + n * img, k);
                    std::copy(o.begin(), o.end(), wy.begin() + n * img);
                    std::copy(d.begin(), d.end(), wgx.begin() + n * img);
                }
                std::vector<float> got_y, got_gx;
                std::vector<double> want_y, want_gx;
                for (const DwTile& t : as.visible)
                    for (int64_t h = t.h0; h < t.h1; h++)
                        for (int64_t ww = t.w0; ww < t.w1; ww++)
                            for (int64_t c = 0; c < C; c++) {
                                const size_t o = (size_t)(t.n * img + (h * S + ww) * C + c);
                                got_y.push_back(y[o]);
                                want_y.push_back(wy[o]);
                                got_gx.push_back(gx[o]);
                                want_gx.push_back(wgx[o]);
                            }
                CHECK(got_y.size() == (size_t)(as.rows * C));
                CHECK_CLOSE(test::compare(got_y.data(), want_y.data(), (int64_t)got_y.size(), 2e-5, 2e-5), got_y.data(), (const float*)nullptr);
                CHECK_CLOSE(test::compare(got_gx.data(), want_gx.data(), (int64_t)got_gx.size(), 2e-5, 2e-5), got_gx.data(), (const float*)nullptr);
                auto cw = test::compare(gw.data(), wgw.data(), 49 * C, 1e-4, 1e-4);
                CHECK_CLOSE(cw, gw.data(), (const float*)nullptr);
                if (ratio < 1) check_trustworthy(cw, 49 * C);
                CHECK_CLOSE(test::compare(gb.data(), wgb.data(), C, 1e-4, 1e-4), gb.data(), (const float*)nullptr);
                // tiny tiles: the neighbour lists give the same values at every visible site
                if (tile <= kDwSparseTile) {
                    const DwListsPlan& p = as.lists;
                    CHECK(p.site.size() == (size_t)as.rows);
                    const DwSparse sp{p.site.data(), p.begin.data(), p.tap.data(), p.nbr.data(), C, 0, (int64_t)p.site.size()};
                    std::vector<float> sy((size_t)(N * img), -5.0f), sgx((size_t)(N * img), 0.0f),
                        sgw((size_t)(49 * C), 0.0f), sgb((size_t)C, 0.0f);
                    sparse_fwd(sy.data(), x.data(), w.data(), b.data(), sp);
                    sparse_data(sgx.data(), gy.data(), w.data(), sp);
                    sparse_wei(sgw.data(), sgb.data(), gy.data(), x.data(), sp);
                    std::vector<float> s_y, s_gx;
                    std::vector<double> s_wy, s_wgx;
                    for (int32_t t : p.site)
                        for (int64_t c = 0; c < C; c++) {
                            const size_t o = (size_t)(t * C + c);
                            s_y.push_back(sy[o]);
                            s_wy.push_back(wy[o]);
                            s_gx.push_back(sgx[o]);
                            s_wgx.push_back(wgx[o]);
                        }
                    CHECK_CLOSE(test::compare(s_y.data(), s_wy.data(), (int64_t)s_y.size(), 2e-5, 2e-5), s_y.data(), (const float*)nullptr);
                    CHECK_CLOSE(test::compare(s_gx.data(), s_wgx.data(), (int64_t)s_gx.size(), 2e-5, 2e-5), s_gx.data(), (const float*)nullptr);
                    auto scw = test::compare(sgw.data(), wgw.data(), 49 * C, 1e-4, 1e-4);
                    CHECK_CLOSE(scw, sgw.data(), (const float*)nullptr);
                    if (ratio < 1) check_trustworthy(scw, 49 * C);
                    CHECK_CLOSE(test::compare(sgb.data(), wgb.data(), C, 1e-4, 1e-4), sgb.data(), (const float*)nullptr);
                    // sites off the lists keep their values
                    for (const TileRegion& t : as.masked) CHECK(sy[(size_t)((t.n * S + t.h0) * S + t.w0) * C] == -5.0f);
                    // 2x2 tiles: the tile-pair kernels, in two calls split at a tile, give the same
                    if (tile == kDwPairTile) {
                        const DwPairsPlan& q = as.pairs;
                        const int64_t tiles = (int64_t)q.cost.size() - 1, mid = tiles / 3;
                        CHECK(tiles * kDwPairTile * kDwPairTile == as.rows);
                        std::vector<float> py((size_t)(N * img), -5.0f), pgx((size_t)(N * img), 0.0f);
                        std::vector<float> pgw((size_t)(49 * C), 0.0f), pgb((size_t)C, 0.0f);
                        for (auto [t0, t1] : {std::pair<int64_t, int64_t>{0, mid}, {mid, tiles}}) {
                            const DwPairs pp{q.begin.data(), q.tile.data(), q.out.data(), q.in.data(), S, C, t0, t1};
                            pairs_fwd(py.data(), x.data(), w.data(), b.data(), pp);
                            pairs_data(pgx.data(), gy.data(), w.data(), pp);
                            pairs_wei(pgw.data(), pgb.data(), gy.data(), x.data(), pp);
                        }
                        std::vector<float> p_y, p_gx;
                        for (int32_t t : p.site)
                            for (int64_t c = 0; c < C; c++) {
                                p_y.push_back(py[(size_t)(t * C + c)]);
                                p_gx.push_back(pgx[(size_t)(t * C + c)]);
                            }
                        CHECK_CLOSE(test::compare(p_y.data(), s_wy.data(), (int64_t)p_y.size(), 2e-5, 2e-5), p_y.data(), (const float*)nullptr);
                        CHECK_CLOSE(test::compare(p_gx.data(), s_wgx.data(), (int64_t)p_gx.size(), 2e-5, 2e-5), p_gx.data(), (const float*)nullptr);
                        for (const TileRegion& t : as.masked) CHECK(py[(size_t)((t.n * S + t.h0) * S + t.w0) * C] == -5.0f);
                        auto pcw = test::compare(pgw.data(), wgw.data(), 49 * C, 1e-4, 1e-4);
                        CHECK_CLOSE(pcw, pgw.data(), (const float*)nullptr);
                        if (ratio < 1) check_trustworthy(pcw, 49 * C);
                        CHECK_CLOSE(test::compare(pgb.data(), wgb.data(), C, 1e-4, 1e-4), pgb.data(), (const float*)nullptr);
                    }
                }
                // the windows leave masked bands out: at 0.6 some tile must read less than its full reach
                if (ratio == 0.6 && tile >= 4) {
                    int narrowed = 0;
                    for (const DwTile& t : as.visible)
                        narrowed += (t.ih0 > std::max(0, t.h0 - 3)) || (t.iw1 < std::min<int>((int)S, t.w1 + 3));
                    CHECK(narrowed > 0);
                    // and some band above or below a tile spans other columns than the tile's rows
                    int banded = 0;
                    for (const DwTile& t : as.visible)
                        banded += (t.tw0 >= 0 && (t.tw0 != t.iw0 || t.tw1 != t.iw1)) || (t.bw0 >= 0 && (t.bw0 != t.iw0 || t.bw1 != t.iw1));
                    CHECK(banded > 0);
                }
            }
        }
    }
}

TEST_CASE("depthwise layer on the visible tiles of a large map (streamed in short calls) equals one kernel call per tile") {
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
    }
    set_num_threads(saved);
}

TEST_CASE("layers under every ISA equal the reference ISA (batch 1 and odd, masked and dense)") {
    std::vector<Isa> isas;
    for (Isa i : {Isa::AVX2, Isa::AVX512}) {
        if (isa_supported(i)) isas.push_back(i);
        else std::printf("SKIPPED layers under %s: this CPU/OS lacks it\n", isa_name(i));
    }
    const Isa active = kernels().isa;
    for (int64_t N : {1, 3}) {
        const int64_t R = 13, C = 40;
        std::vector<float> x = test::random_vector(N * R * 4 * C, 1), g = test::random_vector(4 * C, 2), b = test::random_vector(4 * C, 3),
                           dy = test::random_vector(N * R * 4 * C, 4);
        auto run = [&](Isa isa, std::vector<float>& out) {
            select_isa(isa);
            Grn grn;
            grn.init(N, R, 4 * C);
            std::vector<float> y(x.size()), gx((size_t)(N * 4 * C)), nx((size_t)(N * 4 * C)), dx(x.size()), dg((size_t)(4 * C), 0.0f),
                db((size_t)(4 * C), 0.0f);
            grn.forward(y.data(), gx.data(), nx.data(), x.data(), g.data(), b.data());
            grn.backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), gx.data(), nx.data(), g.data());
            out = y;
            out.insert(out.end(), dx.begin(), dx.end());
            out.insert(out.end(), dg.begin(), dg.end());
            std::vector<float> act(x.size());  // the GELU-fused path of a block
            grn.forward_gelu(y.data(), act.data(), gx.data(), nx.data(), x.data(), g.data(), b.data());
            grn.backward_gelu(dx.data(), dg.data(), db.data(), dy.data(), act.data(), x.data(), gx.data(), nx.data(), g.data());
            out.insert(out.end(), y.begin(), y.end());
            out.insert(out.end(), dx.begin(), dx.end());
        };
        std::vector<float> want;
        run(Isa::REF, want);
        for (Isa isa : isas) {
            CAPTURE(isa_name(isa));
            CAPTURE(N);
            std::vector<float> got;
            run(isa, got);
            CHECK_CLOSE(test::compare(got.data(), want.data(), (int64_t)want.size(), 1e-4, 1e-5), got.data(), want.data());
        }
    }
    select_isa(active);
}

TEST_CASE("grn fused with gelu: every variant against the formula") {
    const auto fwd_rows = runnable("grn_gelu_sumsq");
    const auto bwd_rows = runnable("grn_bwd_apply_gelu");
    for (size_t v = 0; v < fwd_rows.size(); v++) {
        auto fwd = kernel_fn<grn_gelu_sumsq_fn>(fwd_rows[v]);
        auto bwd = kernel_fn<grn_bwd_apply_gelu_fn>(bwd_rows[v]);
        CAPTURE(fwd_rows[v].name);
        for (int64_t C : channel_counts()) {
            for (int64_t rows : {1, 3, 49}) {
                if (C * rows > 200000) continue;
                const int64_t n = rows * C, mis = (C + rows) % 3;
                Buf h(n, mis), x(n, mis), ss(C, mis), dy(n, mis), dh(n, mis), nx(C, mis), ga(C, mis), k(C, mis);
                fill(h.p(), n, (uint64_t)(C + rows), -4.0f, 4.0f);
                fill(dy.p(), n, (uint64_t)(C + rows + 1));
                fill(ss.p(), C, 3, 0.0f, 1.0f);
                fill(nx.p(), C, 4, 0.2f, 2.0f);
                fill(ga.p(), C, 5);
                fill(k.p(), C, 6);
                std::vector<double> wx((size_t)n), wss(ss.p(), ss.p() + C), wdh((size_t)n);
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < C; c++) {
                        const double hv = h.p()[r * C + c];
                        const double g = 0.5 * hv * std::erfc(-hv / std::sqrt(2.0));
                        wx[(size_t)(r * C + c)] = g;
                        wss[(size_t)c] += g * g;
                    }
                fwd(x.p(), ss.p(), h.p(), rows, C);
                // the backward reads the saved forward output x (as stored)
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < C; c++) {
                        const int64_t i = r * C + c;
                        const double hv = h.p()[i];
                        const double d = 0.5 * std::erfc(-hv / std::sqrt(2.0)) + hv * std::exp(-0.5 * hv * hv) / std::sqrt(2 * M_PI);
                        const double dx = dy.p()[i] * (1.0 + (double)ga.p()[c] * nx.p()[c]) + (double)x.p()[i] * k.p()[c];
                        wdh[(size_t)i] = dx * d;
                    }
                bwd(dh.p(), dy.p(), x.p(), h.p(), nx.p(), ga.p(), k.p(), rows, C);
                CAPTURE(C);
                CAPTURE(rows);
                auto cx = test::compare(x.p(), wx.data(), n, 1e-6, 1e-7);
                CHECK_CLOSE(cx, x.p(), (const float*)nullptr);
                check_trustworthy(cx, n);
                CHECK_CLOSE(test::compare(ss.p(), wss.data(), C, 1e-5, 1e-6), ss.p(), (const float*)nullptr);
                auto cd = test::compare(dh.p(), wdh.data(), n, 2e-5, 1e-6);
                CHECK_CLOSE(cd, dh.p(), (const float*)nullptr);
                check_trustworthy(cd, n);
                for (Buf* b : {&x, &ss, &dh}) CHECK(b->canaries_intact());
            }
        }
    }
}
