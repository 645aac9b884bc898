// bfloat16: the upper half of an IEEE fp32 (sign, 8 exponent bits, 7 mantissa bits), held in a
// uint16_t. fp32 -> bf16 rounds to nearest, ties to even, exactly as the AVX512-BF16 instruction
// VCVTNEPS2BF16 does, so that every ISA gives the same bits: NaN stays NaN (made quiet), +-Inf stay,
// values beyond the largest bf16 round to Inf, and denormal inputs become a zero of their sign
// (PyTorch keeps them; they lie below 1.2e-38). bf16 -> fp32 is exact.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/check.h"

namespace cnx {

using bf16 = uint16_t;

// The conversion the kernels meet, bit for bit (the instruction's own definition).
inline bf16 bf16_from_float(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) return (bf16)((u >> 16) & 0x8000u);          // zero or denormal
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x0040u);  // NaN, made quiet
    return (bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                   // Inf's low half is 0
}

inline float float_from_bf16(bf16 h) {
    const uint32_t u = (uint32_t)h << 16;
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// A scalar reference kernel's store: fp32 as it is, bf16 rounded.
inline void store_out(float* p, float v) { *p = v; }
inline void store_out(bf16* p, float v) { *p = bf16_from_float(v); }
// Its load: fp32 as it is, bf16 widened.
inline float load_in(const float* p) { return *p; }
inline float load_in(const bf16* p) { return float_from_bf16(*p); }

// dst[i] = bf16_from_float(src[i]).
using bf16_from_f32_t = void(bf16* dst, const float* src, int64_t n);
// dst[i] = float_from_bf16(src[i]).
using f32_from_bf16_t = void(float* dst, const bf16* src, int64_t n);

// What every conversion kernel asks of its caller (checked in debug and sanitizer builds).
inline void bf16_dcheck(const void* dst, const void* src, int64_t n) {
    CNX_DCHECK(n >= 0, "bf16: negative length");
    CNX_DCHECK(n == 0 || (dst && src), "bf16: null buffer");
}

}  // namespace cnx
