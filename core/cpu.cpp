#include "core/cpu.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace cnx {

static uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    bool osxsave = (c >> 27) & 1;
    bool avx = (c >> 28) & 1;
    f.fma = (c >> 12) & 1;
    if (osxsave && avx) {
        uint64_t xcr0 = read_xcr0();
        f.os_ymm = (xcr0 & 0x6) == 0x6;
        f.os_zmm = f.os_ymm && (xcr0 & 0xe0) == 0xe0;
        f.os_amx = (xcr0 & 0x60000) == 0x60000;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = (b >> 5) & 1;
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        f.amx_bf16 = ((d >> 22) & 1) && ((d >> 24) & 1);  // AMX-BF16 and AMX-TILE
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = (a >> 5) & 1;
    return f;
}

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

std::string cpu_features_string() {
    const CpuFeatures& f = cpu_features();
    std::string s;
    auto add = [&](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512dq, "avx512dq");
    add(f.avx512_bf16, "avx512_bf16");
    add(f.amx_bf16, "amx_bf16");
    s += " (os:";
    s += f.os_ymm ? " ymm" : "";
    s += f.os_zmm ? " zmm" : "";
    s += f.os_amx ? " amx" : "";
    s += ")";
    return s;
}

const std::string& amx_permission() {
    static const std::string status = [] {
        const CpuFeatures& f = cpu_features();
        if (!f.amx_bf16 || !f.os_amx) return std::string("no AMX");
        constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) return std::string("permitted");
        return std::string("refused by the kernel: ") + std::strerror(errno);
    }();
    return status;
}

}  // namespace cnx
