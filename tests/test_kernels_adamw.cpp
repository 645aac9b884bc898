// AdamW: every variant of simd/kernels.inc against PyTorch's update formula (tests/kernel_testers.h).
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

TEST_CASE("adamw: every variant against PyTorch's update formula") {
    for_each_variant<adamw_fn>("adamw", [](adamw_fn fn) {
        for (int64_t n : {1, 15, 16, 17, 100, 1031}) AdamWTester().n(n).misalign(1).staggered().check(fn);
    });
}

TEST_CASE("adamw with the bf16 copy: every variant equals its ISA's adamw and rounds its parameters") {
    for_each_variant_isa<adamw_bf16_fn>("adamw_bf16", [](adamw_bf16_fn fn, Isa isa) {
        for (int64_t n : {1, 15, 16, 17, 100, 1031}) AdamWTester().n(n).misalign(1).staggered().check(fn, kernels_for(isa).adamw);
    });
}
