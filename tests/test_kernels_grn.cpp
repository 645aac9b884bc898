// GRN: every variant of each pass of simd/kernels.inc, and of the GELU-fused passes, against the
// double-precision formula (tests/kernel_testers.h); the GRN layer under every ISA against the
// reference ISA.
#include <cstdio>

#include "nn/grn.h"
#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

namespace {

// A pass over every channel count at these row counts (matrices up to 200000 floats), misaligned by
// (C + rows) % misalign_mod.
template <class Fn>
void check_pass(const char* family, std::initializer_list<int64_t> row_counts, int64_t misalign_mod) {
    for_each_variant<Fn>(family, [&](Fn fn) {
        for (int64_t C : channel_counts())
            for (int64_t rows : row_counts)
                if (C * rows <= 200000) GrnTester().channels(C).rows(rows).misalign((C + rows) % misalign_mod).check(fn);
    });
}

}  // namespace

TEST_CASE("grn: every variant of each pass against the formula") {
    check_pass<grn_sumsq_fn>("grn_sumsq", {1, 2, 7, 49}, 4);
    check_pass<grn_apply_fn>("grn_apply", {1, 2, 7, 49}, 4);
    check_pass<grn_bwd_reduce_fn>("grn_bwd_reduce", {1, 2, 7, 49}, 4);
    check_pass<grn_bwd_apply_fn>("grn_bwd_apply", {1, 2, 7, 49}, 4);
}

TEST_CASE("grn apply in bf16: every variant rounds its ISA's fp32 output on the widened input") {
    for_each_variant_isa<grn_apply_bf16_fn>("grn_apply_bf16", [](grn_apply_bf16_fn fn, Isa isa) {
        for (int64_t C : channel_counts())
            for (int64_t rows : {1, 2, 7, 49})
                if (C * rows <= 200000) GrnTester().channels(C).rows(rows).misalign((C + rows) % 4).staggered().check(fn, kernels_for(isa).grn_apply);
    });
}

TEST_CASE("grn + gelu backward in bf16: every variant rounds its ISA's fp32 output on the widened inputs") {
    for_each_variant_isa<grn_bwd_apply_gelu_bf16_fn>("grn_bwd_apply_gelu_bf16", [](grn_bwd_apply_gelu_bf16_fn fn, Isa isa) {
        for (int64_t C : channel_counts())
            for (int64_t rows : {1, 3, 49})
                if (C * rows <= 200000) GrnTester().channels(C).rows(rows).misalign((C + rows) % 3).check(fn, kernels_for(isa).grn_bwd_apply_gelu);
    });
}

TEST_CASE("grn + gelu forward statistics in bf16: every variant rounds its ISA's GELU and sums the squares as stored") {
    for_each_variant_isa<grn_gelu_sumsq_bf16_fn>("grn_gelu_sumsq_bf16", [](grn_gelu_sumsq_bf16_fn fn, Isa isa) {
        for (int64_t C : channel_counts())
            for (int64_t rows : {1, 3, 49})
                if (C * rows <= 200000) GrnTester().channels(C).rows(rows).misalign((C + rows) % 3).staggered().check(fn, kernels_for(isa).grn_gelu_sumsq);
    });
}

TEST_CASE("grn backward reduction in bf16: every variant equals its ISA's fp32 pass on the widened input, bit for bit") {
    for_each_variant_isa<grn_bwd_reduce_bf16_fn>("grn_bwd_reduce_bf16", [](grn_bwd_reduce_bf16_fn fn, Isa isa) {
        for (int64_t C : channel_counts())
            for (int64_t rows : {1, 2, 7, 49})
                if (C * rows <= 200000) GrnTester().channels(C).rows(rows).misalign((C + rows) % 4).check(fn, kernels_for(isa).grn_bwd_reduce);
    });
}

TEST_CASE("grn fused with gelu: every variant against the formula") {
    check_pass<grn_gelu_sumsq_fn>("grn_gelu_sumsq", {1, 3, 49}, 3);
    check_pass<grn_bwd_apply_gelu_fn>("grn_bwd_apply_gelu", {1, 3, 49}, 3);
}

TEST_CASE("layers under every ISA equal the reference ISA (batch 1 and odd, masked and dense)") {
    std::vector<Isa> isas;
    for (Isa i : kSimdIsas) {
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
