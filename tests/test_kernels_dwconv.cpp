// Depthwise 7x7 region kernels: every variant of simd/kernels.inc against the double-precision
// formula on whole images and sub-regions (tests/kernel_testers.h). Masked maps and the layer:
// tests/test_dwconv_masked.cpp.
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

namespace {

// Every tail at 7 (stage 4 at 224); the widest ConvNeXt layers (huge's stage 4 has 2816 channels) on
// the smallest maps; fewer counts on larger maps.
std::vector<int64_t> dw_channels(int64_t S) {
    if (S == 7) {
        std::vector<int64_t> c;
        for (int64_t i = 1; i <= 33; i++) c.push_back(i);
        for (int64_t i : {37, 61, 97, 40, 48, 80, 96, 160, 192, 320, 384}) c.push_back(i);
        return c;
    }
    if (S <= 3) return {1, 3, 8, 15, 16, 17, 31, 33, 40, 61, 80, 640, 768, 1408, 1536, 2816, 3072};
    if (S <= 14) return {1, 3, 8, 15, 16, 17, 31, 33, 40, 61, 80};
    return {1, 17, 40};
}

}  // namespace

TEST_CASE("dwconv 7x7: every variant against the formula, whole images and sub-regions") {
    for (const DwKernels& k : dw_kernels()) {
        CAPTURE(k.isa);
        for (int64_t S : {1, 2, 3, 7, 8, 13, 14, 28, 56}) {
            for (int64_t C : dw_channels(S)) {
                const DwconvTester map = DwconvTester().size(S).channels(C);
                DwconvTester(map).misalign((C + S) % 3 == 0 ? 1 : 0).check(k.regions);
                if (S < 7) continue;
                // an interior band and a tile touching one border
                DwconvTester(map).region(2, S - 1, S / 2, S).misalign(7).check(k.regions);
                // a tile with a narrowed window
                DwconvTester(map).region(2, S - 2, 1, S - 3).window(2, S - 1, 0, S - 3).misalign(1).check(k.regions);
                // top and bottom bands with columns of their own (wider and narrower than the rows')
                DwconvTester(map).region(3, S - 3, 2, S - 2).window(0, S, 1, S - 3).bands(0, S - 2, 3, S).misalign(2).check(k.regions);
            }
        }
        // non-square, rows longer than the region's
        DwconvTester().size(5, 23).channels(24).region(1, 4, 3, 19).misalign(3).check(k.regions);
        // exact small-integer cases (benchdnn style)
        DwconvTester().size(13).channels(40).integers().check(k.regions);
        DwconvTester().size(28).channels(19).region(4, 12, 8, 16).integers().misalign(1).check(k.regions);
    }
}

TEST_CASE("dwconv 7x7 with bf16 output: every variant rounds its ISA's fp32 output, whole images and sub-regions") {
    for_each_variant_isa<dwconv_fwd_bf16_fn>("dwconv_fwd_bf16", [](dwconv_fwd_bf16_fn fwd, Isa isa) {
        const dwconv_fwd_fn twin = kernels_for(isa).dwconv_fwd;
        for (int64_t S : {1, 3, 7, 14, 56})
            for (int64_t C : {1, 15, 16, 17, 40, 80, 160, 320}) {
                if (S == 56 && C > 40) continue;
                const DwconvTester map = DwconvTester().size(S).channels(C);
                DwconvTester(map).misalign(C % 3).check(fwd, twin);
                if (S >= 7) DwconvTester(map).region(3, S - 3, 2, S - 2).window(0, S, 1, S - 3).bands(0, S - 2, 3, S).misalign(1).check(fwd, twin);
            }
    });
}
