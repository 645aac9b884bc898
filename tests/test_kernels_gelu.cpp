// GELU: every variant of simd/kernels.inc against the double-precision formula (tests/kernel_testers.h).
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

TEST_CASE("gelu: every variant against the double-precision formula") {
    for_each_variant<gelu_fwd_fn>("gelu_fwd", [](gelu_fwd_fn fwd) {
        for (int64_t n : {1, 7, 15, 16, 17, 33, 100, 1000, 4099})
            for (int64_t misalign : {0, 1, 7}) GeluTester().n(n).misalign(misalign).check(fwd);
    });
    for_each_variant<gelu_bwd_fn>("gelu_bwd", [](gelu_bwd_fn bwd) {
        for (int64_t n : {1, 5, 16, 31, 257, 4099}) GeluTester().n(n).misalign(1).staggered().check(bwd);
    });
}
