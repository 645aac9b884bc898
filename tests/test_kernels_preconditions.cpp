// Kernel preconditions: every kernel's entry checks its family's contract with CNX_DCHECK (the
// <family>_dcheck helpers beside the signatures). In debug and sanitizer builds (`make check`) a call
// that breaks it aborts with file and line, in every variant; release builds (-DNDEBUG) compile the
// checks out, so there the case says it was skipped.
#include <csignal>
#include <functional>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "tests/kernel_testers.h"

using namespace cnx;
using namespace cnx::test;

#ifndef NDEBUG

namespace {

// What `call` printed on stderr when it aborted in a forked child; "" when it returned.
std::string abort_message(const std::function<void()>& call) {
    const ChildRun child = run_in_child([&](int fd) {
        dup2(fd, STDERR_FILENO);
        call();
    });
    return WIFSIGNALED(child.status) && WTERMSIG(child.status) == SIGABRT ? child.output : "";
}

// Every variant of `family` aborts on `call(fn)`, naming `what`.
template <class Fn, class Call>
void expect_refused(const char* family, const char* what, Call&& call) {
    for_each_variant<Fn>(family, [&](Fn fn) {
        const std::string message = abort_message([&] { call(fn); });
        CHECK_MESSAGE(message.find("internal check failed") != std::string::npos, "returned instead of aborting");
        CHECK(message.find(what) != std::string::npos);
    });
}

}  // namespace

TEST_CASE("kernel preconditions: a call outside its family's contract aborts, in every variant") {
    float b[64] = {};
    expect_refused<gelu_fwd_fn>("gelu_fwd", "gelu: negative length", [&](gelu_fwd_fn f) { f(b, b, -1); });
    expect_refused<gelu_bwd_fn>("gelu_bwd", "gelu: null buffer", [&](gelu_bwd_fn f) { f(nullptr, b, b, 4); });

    expect_refused<layernorm_fwd_fn>("layernorm_fwd", "layernorm: no channels",
                                     [&](layernorm_fwd_fn f) { f(Rows(b), nullptr, nullptr, ConstRows(b), b, b, 1, 0, 1e-6f); });
    expect_refused<layernorm_bwd_fn>("layernorm_bwd", "layernorm: negative row count",
                                     [&](layernorm_bwd_fn f) { f(Rows(b), b, b, ConstRows(b), ConstRows(b), b, b, b, -2, 4); });

    bf16 h16[64] = {};
    expect_refused<layernorm_fwd_bf16_fn>("layernorm_fwd_bf16", "layernorm: no channels", [&](layernorm_fwd_bf16_fn f) {
        f(RowsOf<bf16>(h16), nullptr, nullptr, RowsOf<const bf16>(h16), b, b, 1, 0, 1e-6f);
    });
    expect_refused<layernorm_fwd_to_bf16_fn>("layernorm_fwd_to_bf16", "layernorm: no channels", [&](layernorm_fwd_to_bf16_fn f) {
        f(RowsOf<bf16>(h16), nullptr, nullptr, ConstRows(b), b, b, 1, 0, 1e-6f);
    });
    expect_refused<layernorm_bwd_bf16_fn>("layernorm_bwd_bf16", "layernorm: negative row count", [&](layernorm_bwd_bf16_fn f) {
        f(Rows(b), b, b, ConstRows(b), RowsOf<const bf16>(h16), b, b, b, -2, 4);
    });

    const char* no_channels = "grn: no channels";
    expect_refused<grn_apply_bf16_fn>("grn_apply_bf16", no_channels, [&](grn_apply_bf16_fn f) { f(h16, h16, b, b, b, 1, 0); });
    expect_refused<grn_bwd_apply_gelu_bf16_fn>("grn_bwd_apply_gelu_bf16", no_channels,
                                               [&](grn_bwd_apply_gelu_bf16_fn f) { f(h16, b, h16, h16, b, b, b, 1, 0); });
    expect_refused<grn_gelu_sumsq_bf16_fn>("grn_gelu_sumsq_bf16", "grn: negative row count",
                                           [&](grn_gelu_sumsq_bf16_fn f) { f(h16, b, h16, -1, 4); });
    expect_refused<grn_bwd_reduce_bf16_fn>("grn_bwd_reduce_bf16", no_channels, [&](grn_bwd_reduce_bf16_fn f) { f(b, b, b, h16, 1, 0); });
    expect_refused<grn_sumsq_fn>("grn_sumsq", no_channels, [&](grn_sumsq_fn f) { f(b, b, 1, 0); });
    expect_refused<grn_apply_fn>("grn_apply", no_channels, [&](grn_apply_fn f) { f(b, b, b, b, b, 1, 0); });
    expect_refused<grn_bwd_reduce_fn>("grn_bwd_reduce", no_channels, [&](grn_bwd_reduce_fn f) { f(b, b, b, b, 1, 0); });
    expect_refused<grn_bwd_apply_fn>("grn_bwd_apply", no_channels, [&](grn_bwd_apply_fn f) { f(b, b, b, b, b, b, 1, 0); });
    expect_refused<grn_gelu_sumsq_fn>("grn_gelu_sumsq", "grn: negative row count", [&](grn_gelu_sumsq_fn f) { f(b, b, b, -1, 4); });
    expect_refused<grn_bwd_apply_gelu_fn>("grn_bwd_apply_gelu", no_channels,
                                          [&](grn_bwd_apply_gelu_fn f) { f(b, b, b, b, b, b, b, 1, 0); });

    expect_refused<bf16_from_f32_fn>("bf16_from_f32", "bf16: negative length", [&](bf16_from_f32_fn f) { f(h16, b, -3); });
    expect_refused<f32_from_bf16_fn>("f32_from_bf16", "bf16: null buffer", [&](f32_from_bf16_fn f) { f(b, nullptr, 2); });

    expect_refused<adamw_fn>("adamw", "adamw: no step factors", [&](adamw_fn f) { f(b, b, b, b, 4, nullptr); });
    const AdamWStep step = adamw_step(1e-3, 0.05, 0.9, 0.999, 1e-8, 1);
    expect_refused<adamw_bf16_fn>("adamw_bf16", "adamw_bf16: no bf16 copy",
                                  [&](adamw_bf16_fn f) { f(b, nullptr, b, b, b, 4, &step); });

    DwGeom past_bottom = dw_whole(2, 2, 1);
    past_bottom.h1 = 3;
    DwGeom wide_window = dw_whole(2, 2, 1);
    wide_window.iw1 = 4;
    DwGeom bad_band = dw_whole(2, 2, 1);
    bad_band.tw0 = 1, bad_band.tw1 = 3;
    expect_refused<dwconv_fwd_fn>("dwconv_fwd", "dwconv: region outside", [&](dwconv_fwd_fn f) { f(b, b, b, b, past_bottom); });
    expect_refused<dwconv_fwd_bf16_fn>("dwconv_fwd_bf16", "dwconv: window outside", [&](dwconv_fwd_bf16_fn f) { f(h16, b, b, b, wide_window); });
    expect_refused<dwconv_bwd_data_fn>("dwconv_bwd_data", "dwconv: window outside", [&](dwconv_bwd_data_fn f) { f(b, b, b, wide_window); });
    expect_refused<dwconv_bwd_wei_fn>("dwconv_bwd_wei", "dwconv: top band", [&](dwconv_bwd_wei_fn f) { f(b, b, b, b, bad_band); });

    const DwSparse no_lists{nullptr, nullptr, nullptr, nullptr, 1, 0, 1};
    const DwSparse backwards{nullptr, nullptr, nullptr, nullptr, 1, 2, 1};
    expect_refused<dwconv_sparse_fwd_fn>("dwconv_sparse_fwd", "no lists", [&](dwconv_sparse_fwd_fn f) { f(b, b, b, b, no_lists); });
    expect_refused<dwconv_sparse_fwd_bf16_fn>("dwconv_sparse_fwd_bf16", "bad site range",
                                              [&](dwconv_sparse_fwd_bf16_fn f) { f(h16, b, b, b, backwards); });
    expect_refused<dwconv_sparse_bwd_data_fn>("dwconv_sparse_bwd_data", "bad site range",
                                              [&](dwconv_sparse_bwd_data_fn f) { f(b, b, b, backwards); });
    expect_refused<dwconv_sparse_bwd_wei_fn>("dwconv_sparse_bwd_wei", "no lists",
                                             [&](dwconv_sparse_bwd_wei_fn f) { f(b, b, b, b, no_lists); });

    const DwPairs no_pairs{nullptr, nullptr, nullptr, nullptr, 4, 1, 0, 1};
    const DwPairs no_channels_pairs{nullptr, nullptr, nullptr, nullptr, 4, 0, 0, 1};
    expect_refused<dwconv_pairs_fwd_fn>("dwconv_pairs_fwd", "no pairs", [&](dwconv_pairs_fwd_fn f) { f(b, b, b, b, no_pairs); });
    expect_refused<dwconv_pairs_bwd_data_fn>("dwconv_pairs_bwd_data", "bad map shape",
                                             [&](dwconv_pairs_bwd_data_fn f) { f(b, b, b, no_channels_pairs); });
    expect_refused<dwconv_pairs_bwd_wei_fn>("dwconv_pairs_bwd_wei", "no pairs",
                                            [&](dwconv_pairs_bwd_wei_fn f) { f(b, b, b, b, no_pairs); });
}

#else

TEST_CASE("kernel preconditions: a call outside its family's contract aborts, in every variant") {
    MESSAGE("SKIPPED: a release build (-DNDEBUG) compiles the kernel preconditions out; `make check` runs this case");
}

#endif
