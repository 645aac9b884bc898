// Runtime kernel dispatch. The table is filled once from the kernel list (simd/kernels.inc): for each
// family, the best variant the CPU and OS support (CPUID + XGETBV), or the ISA forced by the
// environment variable CONVNEXTV2_ISA=ref|avx2|avx512. A family without a variant at the chosen ISA
// uses the next lower one, down to the scalar reference every family has.
#pragma once

#include <string>
#include <vector>

#include "simd/adamw/adamw.h"
#include "simd/dwconv/dwconv.h"
#include "simd/gelu/gelu.h"
#include "simd/grn/grn.h"
#include "simd/layernorm/layernorm.h"

namespace cnx {

enum class Isa { REF = 0, AVX2 = 1, AVX512 = 2 };

const char* isa_name(Isa isa);
// Parses "ref", "avx2", "avx512"; throws cnx::Error otherwise.
Isa parse_isa(const std::string& name);
bool isa_supported(Isa isa);
// The best ISA this machine supports.
Isa best_isa();

struct Kernels {
    Isa isa = Isa::REF;
    layernorm_fwd_fn layernorm_fwd = nullptr;
    layernorm_bwd_fn layernorm_bwd = nullptr;
    gelu_fwd_fn gelu_fwd = nullptr;
    gelu_bwd_fn gelu_bwd = nullptr;
    grn_sumsq_fn grn_sumsq = nullptr;
    grn_apply_fn grn_apply = nullptr;
    grn_bwd_reduce_fn grn_bwd_reduce = nullptr;
    grn_bwd_apply_fn grn_bwd_apply = nullptr;
    grn_gelu_sumsq_fn grn_gelu_sumsq = nullptr;
    grn_bwd_apply_gelu_fn grn_bwd_apply_gelu = nullptr;
    dwconv_fwd_fn dwconv_fwd = nullptr;
    dwconv_bwd_data_fn dwconv_bwd_data = nullptr;
    dwconv_bwd_wei_fn dwconv_bwd_wei = nullptr;
    dwconv_sparse_fwd_fn dwconv_sparse_fwd = nullptr;
    dwconv_sparse_bwd_data_fn dwconv_sparse_bwd_data = nullptr;
    dwconv_sparse_bwd_wei_fn dwconv_sparse_bwd_wei = nullptr;
    dwconv_pairs_fwd_fn dwconv_pairs_fwd = nullptr;
    dwconv_pairs_bwd_data_fn dwconv_pairs_bwd_data = nullptr;
    dwconv_pairs_bwd_wei_fn dwconv_pairs_bwd_wei = nullptr;
    adamw_fn adamw = nullptr;
};

// The active table (chosen once; CONVNEXTV2_ISA honoured; an unsupported or unknown value throws).
const Kernels& kernels();
// The table for a given ISA (variants above `isa` are never used). Does not check support.
Kernels kernels_for(Isa isa);
// Replaces the active table by kernels_for(isa) (tests and benchmarks; never while layers run).
// Throws cnx::Error when the CPU lacks the ISA.
void select_isa(Isa isa);

// One row of the kernel list, for tests and benchmarks.
struct KernelRow {
    const char* family;
    Isa isa;
    const char* name;
    void (*fn)();  // cast back with kernel_fn<T>()
};
const std::vector<KernelRow>& kernel_rows();
// "layernorm_fwd=layernorm_fwd_avx512 ..." for the active table (--verbose logs).
std::string kernel_report();
std::vector<KernelRow> kernel_rows(const std::string& family);

template <class Fn>
Fn kernel_fn(const KernelRow& row) {
    return reinterpret_cast<Fn>(row.fn);
}

}  // namespace cnx
