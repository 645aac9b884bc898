// LayerNorm: every variant of simd/kernels.inc against the double-precision formula, on contiguous
// and gathered rows (tests/kernel_testers.h).
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

TEST_CASE("layernorm: every variant against the formula, contiguous and gathered rows") {
    auto cases = [](auto fn) {
        for (int64_t C : channel_counts())
            for (bool gathered : {false, true})
                LayerNormTester().channels(C).rows(C > 500 ? 3 : 9).gathered(gathered).misalign(C % 3).check(fn);
    };
    for_each_variant<layernorm_fwd_fn>("layernorm_fwd", cases);
    for_each_variant<layernorm_bwd_fn>("layernorm_bwd", cases);
}

TEST_CASE("layernorm in bf16: every variant rounds its ISA's fp32 output on the widened input, contiguous and gathered rows") {
    for_each_variant_isa<layernorm_fwd_bf16_fn>("layernorm_fwd_bf16", [](layernorm_fwd_bf16_fn fwd, Isa isa) {
        for (int64_t C : channel_counts())
            for (bool gathered : {false, true})
                LayerNormTester().channels(C).rows(C > 500 ? 3 : 9).gathered(gathered).misalign(C % 3).check(fwd, kernels_for(isa).layernorm_fwd);
    });
}

TEST_CASE("layernorm from fp32 to bf16: every variant rounds its ISA's fp32 output, contiguous and gathered rows") {
    for_each_variant_isa<layernorm_fwd_to_bf16_fn>("layernorm_fwd_to_bf16", [](layernorm_fwd_to_bf16_fn fwd, Isa isa) {
        for (int64_t C : channel_counts())
            for (bool gathered : {false, true})
                LayerNormTester().channels(C).rows(C > 500 ? 3 : 9).gathered(gathered).misalign(C % 3).check(fwd, kernels_for(isa).layernorm_fwd);
    });
}

TEST_CASE("layernorm backward with bf16 input: every variant equals its ISA's fp32 pass on the widened input, bit for bit") {
    for_each_variant_isa<layernorm_bwd_bf16_fn>("layernorm_bwd_bf16", [](layernorm_bwd_bf16_fn bwd, Isa isa) {
        for (int64_t C : channel_counts())
            for (bool gathered : {false, true})
                LayerNormTester().channels(C).rows(C > 500 ? 3 : 9).gathered(gathered).misalign(C % 3).check(bwd, kernels_for(isa).layernorm_bwd);
    });
}
