#include "simd/kernels.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/check.h"
#include "core/cpu.h"

namespace cnx {

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::REF: return "ref";
        case Isa::AVX2: return "avx2";
        case Isa::AVX512: return "avx512";
    }
    return "?";
}

Isa parse_isa(const std::string& name) {
    if (name == "ref") return Isa::REF;
    if (name == "avx2") return Isa::AVX2;
    if (name == "avx512") return Isa::AVX512;
    fail("CONVNEXTV2_ISA='%s': expected ref, avx2 or avx512", name.c_str());
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::REF: return true;
        case Isa::AVX2: return cpu_features().has_avx2();
        case Isa::AVX512: return cpu_features().has_avx512();
    }
    return false;
}

Isa best_isa() {
    if (isa_supported(Isa::AVX512)) return Isa::AVX512;
    if (isa_supported(Isa::AVX2)) return Isa::AVX2;
    return Isa::REF;
}

// Type-checks each row against its family's function-pointer type, then stores it untyped.
#define CNX_KERNEL(family, isa, fn) \
    {#family, Isa::isa, #fn, reinterpret_cast<void (*)()>(static_cast<family##_fn>(&fn))},
static const KernelRow kRows[] = {
#include "simd/kernels.inc"
};
#undef CNX_KERNEL

const std::vector<KernelRow>& kernel_rows() {
    static const std::vector<KernelRow> rows(std::begin(kRows), std::end(kRows));
    return rows;
}

std::vector<KernelRow> kernel_rows(const std::string& family) {
    std::vector<KernelRow> out;
    for (const KernelRow& r : kernel_rows())
        if (family == r.family) out.push_back(r);
    return out;
}

std::string kernel_report() {
    const Kernels& k = kernels();
    std::string s;
    // The row whose function is in the active table, per family.
    for (const KernelRow& r : kernel_rows()) {
        void (*active)() = nullptr;
#define CNX_KERNEL(fam, isa, fn) \
        if (std::string(#fam) == r.family) active = reinterpret_cast<void (*)()>(k.fam);
#include "simd/kernels.inc"
#undef CNX_KERNEL
        if (active == r.fn) s += std::string(s.empty() ? "" : " ") + r.name;
    }
    return s;
}

Kernels kernels_for(Isa isa) {
    Kernels k;
    k.isa = isa;
    // Per family, the highest-ISA row not above `isa`.
#define CNX_KERNEL(family, row_isa, fn)                                 \
    if (Isa::row_isa <= isa && (!k.family || Isa::row_isa >= best_##family)) { \
        k.family = &fn;                                                 \
        best_##family = Isa::row_isa;                                   \
    }
    Isa best_layernorm_fwd = Isa::REF, best_layernorm_bwd = Isa::REF, best_gelu_fwd = Isa::REF,
        best_gelu_bwd = Isa::REF, best_grn_sumsq = Isa::REF, best_grn_apply = Isa::REF,
        best_grn_bwd_reduce = Isa::REF, best_grn_bwd_apply = Isa::REF, best_grn_gelu_sumsq = Isa::REF,
        best_grn_bwd_apply_gelu = Isa::REF, best_dwconv_fwd = Isa::REF,
        best_dwconv_bwd_data = Isa::REF, best_dwconv_bwd_wei = Isa::REF, best_dwconv_sparse_fwd = Isa::REF,
        best_dwconv_sparse_bwd_data = Isa::REF, best_dwconv_sparse_bwd_wei = Isa::REF,
        best_dwconv_pairs_fwd = Isa::REF, best_dwconv_pairs_bwd_data = Isa::REF, best_dwconv_pairs_bwd_wei = Isa::REF,
        best_adamw = Isa::REF;
#include "simd/kernels.inc"
#undef CNX_KERNEL
    // every family of the list got a function (its reference row at least)
#define CNX_KERNEL(family, row_isa, fn) CNX_CHECK(k.family, "kernel family " #family " has no reference row in simd/kernels.inc");
#include "simd/kernels.inc"
#undef CNX_KERNEL
    return k;
}

static Kernels choose() {
    Isa isa = best_isa();
    const char* env = std::getenv("CONVNEXTV2_ISA");
    if (env && *env) {
        isa = parse_isa(env);
        if (!isa_supported(isa)) fail("CONVNEXTV2_ISA=%s: this CPU or OS does not support it", env);
    }
    return kernels_for(isa);
}

static Kernels& active() {
    static Kernels k = choose();
    return k;
}

const Kernels& kernels() { return active(); }

void select_isa(Isa isa) {
    if (!isa_supported(isa)) fail("this CPU or OS does not support %s", isa_name(isa));
    active() = kernels_for(isa);
}

}  // namespace cnx
