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
        case Isa::AVX512_BF16: return "avx512_bf16";
    }
    return "?";
}

Isa parse_isa(const std::string& name) {
    if (name == "ref") return Isa::REF;
    if (name == "avx2") return Isa::AVX2;
    if (name == "avx512") return Isa::AVX512;
    if (name == "avx512_bf16") return Isa::AVX512_BF16;
    fail("CONVNEXTV2_ISA='%s': expected ref, avx2 or avx512", name.c_str());
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::REF: return true;
        case Isa::AVX2: return cpu_features().has_avx2();
        case Isa::AVX512: return cpu_features().has_avx512();
        case Isa::AVX512_BF16: return cpu_features().has_avx512_bf16();
    }
    return false;
}

Isa best_isa() {
    if (isa_supported(Isa::AVX512_BF16)) return Isa::AVX512_BF16;
    if (isa_supported(Isa::AVX512)) return Isa::AVX512;
    if (isa_supported(Isa::AVX2)) return Isa::AVX2;
    return Isa::REF;
}

// The reference rows' exported pointers; the SIMD rows' are defined in simd/kernels_<isa>.cpp.
#define CNX_KERNEL(family, isa, fn) CNX_DEFINE_##isa(family, fn)
#define CNX_DEFINE_REF(family, fn) family##_t* const kernel_##family##_REF = &fn;
#define CNX_DEFINE_AVX2(family, fn)
#define CNX_DEFINE_AVX512(family, fn)
#define CNX_DEFINE_AVX512_BF16(family, fn)
#include "simd/kernels.inc"
#undef CNX_KERNEL

const std::vector<KernelRow>& kernel_rows() {
    static const std::vector<KernelRow> rows = [] {
        std::vector<KernelRow> v;
#define CNX_KERNEL(family, isa, fn) \
    v.push_back(KernelRow{#family, Isa::isa, std::string(#family "_") + isa_name(Isa::isa), \
                          reinterpret_cast<void (*)()>(kernel_##family##_##isa)});
#include "simd/kernels.inc"
#undef CNX_KERNEL
        for (size_t i = 1; i < v.size(); i++)
            CNX_CHECK(std::strcmp(v[i].family, v[i - 1].family) != 0 || v[i].isa > v[i - 1].isa,
                      "simd/kernels.inc: the rows of a family go from REF up");
        return v;
    }();
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
#define CNX_KERNEL(family, isa, fn) \
    if (k.family == kernel_##family##_##isa) s += std::string(s.empty() ? "" : " ") + #family "_" + isa_name(Isa::isa);
#include "simd/kernels.inc"
#undef CNX_KERNEL
    return s;
}

Kernels kernels_for(Isa isa) {
    Kernels k;
    k.isa = isa;
    // Rows go from REF up, so the last row not above `isa` is the family's best.
#define CNX_KERNEL(family, row_isa, fn) \
    if (Isa::row_isa <= isa) k.family = kernel_##family##_##row_isa;
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
