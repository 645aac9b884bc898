// CPU feature detection: CPUID for what the processor has, XGETBV (XCR0) for what the operating
// system saves on a context switch. An AVX-512 kernel is usable only when both agree.
#pragma once

#include <string>

namespace cnx {

struct CpuFeatures {
    bool avx2 = false;
    bool fma = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512_bf16 = false;  // VCVTNEPS2BF16, VDPBF16PS
    bool amx_bf16 = false;     // AMX tiles with bf16 inputs (also needs the kernel's permission)
    bool os_ymm = false;  // XCR0 bits 1,2: SSE and AVX state
    bool os_zmm = false;  // XCR0 bits 5,6,7: opmask and ZMM state
    bool os_amx = false;  // XCR0 bits 17,18: tile configuration and tile data

    bool has_avx2() const { return avx2 && fma && os_ymm; }
    bool has_avx512() const { return avx512f && avx512bw && avx512vl && avx512dq && os_ymm && os_zmm; }
    bool has_avx512_bf16() const { return has_avx512() && avx512_bf16; }
};

const CpuFeatures& cpu_features();

// A one-line summary, e.g. "avx2 fma avx512f avx512bw avx512vl avx512dq (os: ymm zmm)".
std::string cpu_features_string();

// Linux lets a process use AMX tile data only once it asks (arch_prctl ARCH_REQ_XCOMP_PERM); asks
// once and says how it went: "no AMX", "permitted", or why the kernel refused.
const std::string& amx_permission();

}  // namespace cnx
