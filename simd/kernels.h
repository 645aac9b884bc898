// Runtime kernel dispatch. The table is filled once from the kernel list (simd/kernels.inc): for each
// family, the best variant the CPU and OS support (CPUID + XGETBV), or the ISA forced by the
// environment variable CONVNEXTV2_ISA=ref|avx2|avx512|avx512_bf16. A family without a variant at the
// chosen ISA uses the next lower one, down to the scalar reference every family has.
#pragma once

#include <string>
#include <vector>

#include "simd/adamw/adamw.h"
#include "simd/bf16/bf16.h"
#include "simd/dwconv/dwconv.h"
#include "simd/gelu/gelu.h"
#include "simd/grn/grn.h"
#include "simd/layernorm/layernorm.h"

namespace cnx {

enum class Isa { REF = 0, AVX2 = 1, AVX512 = 2, AVX512_BF16 = 3 };
// Every ISA above the reference, in ascending order.
constexpr Isa kSimdIsas[] = {Isa::AVX2, Isa::AVX512, Isa::AVX512_BF16};

const char* isa_name(Isa isa);
// Parses "ref", "avx2", "avx512", "avx512_bf16"; throws cnx::Error otherwise.
Isa parse_isa(const std::string& name);
bool isa_supported(Isa isa);
// The best ISA this machine supports.
Isa best_isa();

// What the kernel list declares: per family the pointer type <family>_fn; per reference row its
// function; per row the exported pointer kernel_<family>_<ISA> (the SIMD ones are defined in the
// ISA's own translation unit, simd/kernels_<isa>.cpp).
#define CNX_KERNEL(family, isa, fn) CNX_DECLARE_##isa(family, fn) extern family##_t* const kernel_##family##_##isa;
#define CNX_DECLARE_REF(family, fn) using family##_fn = family##_t*; family##_t fn;
#define CNX_DECLARE_AVX2(family, fn)
#define CNX_DECLARE_AVX512(family, fn)
#define CNX_DECLARE_AVX512_BF16(family, fn)
#include "simd/kernels.inc"
#undef CNX_KERNEL
#undef CNX_DECLARE_REF
#undef CNX_DECLARE_AVX2
#undef CNX_DECLARE_AVX512
#undef CNX_DECLARE_AVX512_BF16

// The dispatch table: one function per family.
struct Kernels {
    Isa isa = Isa::REF;
#define CNX_KERNEL(family, isa, fn) CNX_FIELD_##isa(family)
#define CNX_FIELD_REF(family) family##_fn family = nullptr;
#define CNX_FIELD_AVX2(family)
#define CNX_FIELD_AVX512(family)
#define CNX_FIELD_AVX512_BF16(family)
#include "simd/kernels.inc"
#undef CNX_KERNEL
#undef CNX_FIELD_REF
#undef CNX_FIELD_AVX2
#undef CNX_FIELD_AVX512
#undef CNX_FIELD_AVX512_BF16
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
    std::string name;  // "<family>_<isa>", e.g. grn_sumsq_avx512
    void (*fn)();      // cast back with kernel_fn<T>()
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
