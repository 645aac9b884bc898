// Vector traits for the SIMD kernel templates: Avx512 (16 lanes) and Avx2 (8 lanes, FMA). A kernel
// family writes its body once as templates over these traits (simd/<family>/*_simd.h); the
// files simd/kernels_avx512.cpp and simd/kernels_avx2.cpp instantiate it for the rows of the kernel
// list (simd/kernels.inc), and only they get the ISA flags.
//
// Everything here sits in an anonymous namespace so each ISA's translation unit keeps its own copy:
// the linker can never merge an AVX-512 instantiation into the AVX2 build of a function.
//
// Tails: every channel loop runs over groups of kWidth lanes with a tail mask, so nothing is read or
// written past the end of a row (masked loads return zeros in the inactive lanes).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace cnx {
namespace {

// A whole vector of lanes, in place of a tail mask: plain loads and stores, which are much faster
// than masked ones on some CPUs. Kernels pass it for the full channel groups.
struct FullMask {};

// f(c, mask) for each channel group of a row of C: FullMask for the whole vectors, a tail mask for
// the rest (a generic lambda gets one instantiation per mask type).
template <class T, class F>
inline void for_each_group(int64_t C, F&& f) {
    int64_t c = 0;
    for (; c + T::kWidth <= C; c += T::kWidth) f(c, FullMask{});
    if (c < C) f(c, T::tail(C - c));
}

// f(c, kGroups, mask) over a row of C channels in chunks of kGroups = kMax, ..., 4, 2, 1 whole vectors
// (channel groups; kMax one of 8, 4, 2, 1), then one tail vector; kGroups is a std::integral_constant,
// so the callee can keep kGroups accumulators in registers (its loops over kGroups must unroll).
template <class T, int kMax = 8, class F>
inline void for_each_chunk(int64_t C, F&& f) {
    static_assert(kMax == 8 || kMax == 4 || kMax == 2 || kMax == 1, "chunks of 8, 4, 2 or 1 vectors");
    int64_t c = 0;
    auto whole = [&](auto kGroups) {
        for (; c + kGroups * T::kWidth <= C; c += kGroups * T::kWidth) f(c, kGroups, FullMask{});
    };
    if constexpr (kMax >= 8) whole(std::integral_constant<int, 8>{});
    if constexpr (kMax >= 4) whole(std::integral_constant<int, 4>{});
    if constexpr (kMax >= 2) whole(std::integral_constant<int, 2>{});
    whole(std::integral_constant<int, 1>{});
    if (c < C) f(c, std::integral_constant<int, 1>{}, T::tail(C - c));
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
struct Avx512 {
    using V = __m512;
    using Mask = __mmask16;  // lanes of a channel group
    using Cmp = __mmask16;   // result of a comparison
    static constexpr int kWidth = 16;

    static inline Mask tail(int64_t n) { return n >= 16 ? (Mask)0xffff : (Mask)((1u << n) - 1u); }
    static inline V zero() { return _mm512_setzero_ps(); }
    static inline V set1(float x) { return _mm512_set1_ps(x); }
    static inline V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
    static inline V keep(Mask m, V v) { return _mm512_maskz_mov_ps(m, v); }  // zero inactive lanes
    static inline void store(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
    static inline V load(const float* p, FullMask) { return _mm512_loadu_ps(p); }
    static inline V keep(FullMask, V v) { return v; }
    static inline void store(float* p, FullMask, V v) { _mm512_storeu_ps(p, v); }
    static inline V add(V a, V b) { return _mm512_add_ps(a, b); }
    static inline V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static inline V div(V a, V b) { return _mm512_div_ps(a, b); }
    static inline V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
    static inline V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); } // c - a*b
    static inline V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }   // a*b - c
    static inline V max(V a, V b) { return _mm512_max_ps(a, b); }
    static inline V min(V a, V b) { return _mm512_min_ps(a, b); }
    static inline V sqrt(V a) { return _mm512_sqrt_ps(a); }
    static inline V abs(V a) { return _mm512_abs_ps(a); }
    static inline V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // p * 2^n for integral n (vscalefps: no exponent overflow to handle).
    static inline V scale2(V p, V n) { return _mm512_scalef_ps(p, n); }
    static inline Cmp ge(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    static inline V select(Cmp m, V if_false, V if_true) { return _mm512_mask_blend_ps(m, if_false, if_true); }
    static inline float reduce_add(V v) { return _mm512_reduce_add_ps(v); }

    // bf16 (simd/bf16/bf16.h): widening is exact; narrowing rounds as VCVTNEPS2BF16 does, here by
    // its integer definition (Avx512Bf16 runs the instruction itself).
    static inline V widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
    static inline __m256i narrow_bf16(V v) {
        const __m512i u = _mm512_castps_si512(v), high = _mm512_srli_epi32(u, 16);
        const __m512i bias = _mm512_add_epi32(_mm512_and_si512(high, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
        const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
        r = _mm512_mask_or_epi32(r, nan, high, _mm512_set1_epi32(0x40));
        const __mmask16 tiny = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));  // zero or denormal
        r = _mm512_mask_and_epi32(r, tiny, high, _mm512_set1_epi32(0x8000));
        return _mm512_cvtepi32_epi16(r);
    }
    static inline V load_bf16(const uint16_t* p, Mask m) { return widen_bf16(_mm256_maskz_loadu_epi16(m, p)); }
    static inline V load_bf16(const uint16_t* p, FullMask) { return widen_bf16(_mm256_loadu_si256((const __m256i*)p)); }
    static inline void store_bf16(uint16_t* p, Mask m, V v) { _mm256_mask_storeu_epi16(p, m, narrow_bf16(v)); }
    static inline void store_bf16(uint16_t* p, FullMask, V v) { _mm256_storeu_si256((__m256i*)p, narrow_bf16(v)); }
};
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BF16__)
// AVX-512 with the bf16 instructions: narrowing by VCVTNEPS2BF16.
struct Avx512Bf16 : Avx512 {
    static inline __m256i narrow_bf16(V v) { return (__m256i)_mm512_cvtneps_pbh(v); }
    static inline void store_bf16(uint16_t* p, Mask m, V v) { _mm256_mask_storeu_epi16(p, m, narrow_bf16(v)); }
    static inline void store_bf16(uint16_t* p, FullMask, V v) { _mm256_storeu_si256((__m256i*)p, narrow_bf16(v)); }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
    using V = __m256;
    using Mask = __m256i;
    using Cmp = __m256;
    static constexpr int kWidth = 8;

    static inline Mask tail(int64_t n) {
        if (n >= 8) return _mm256_set1_epi32(-1);
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
    }
    static inline V zero() { return _mm256_setzero_ps(); }
    static inline V set1(float x) { return _mm256_set1_ps(x); }
    static inline V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
    static inline V keep(Mask m, V v) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }
    static inline void store(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
    static inline V load(const float* p, FullMask) { return _mm256_loadu_ps(p); }
    static inline V keep(FullMask, V v) { return v; }
    static inline void store(float* p, FullMask, V v) { _mm256_storeu_ps(p, v); }
    static inline V add(V a, V b) { return _mm256_add_ps(a, b); }
    static inline V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static inline V div(V a, V b) { return _mm256_div_ps(a, b); }
    static inline V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static inline V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
    static inline V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }
    static inline V max(V a, V b) { return _mm256_max_ps(a, b); }
    static inline V min(V a, V b) { return _mm256_min_ps(a, b); }
    static inline V sqrt(V a) { return _mm256_sqrt_ps(a); }
    static inline V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static inline V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // p * 2^n for integral n in [-127, 127] (exponent bits built by hand).
    static inline V scale2(V p, V n) {
        __m256i i = _mm256_cvtps_epi32(n);
        return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23)));
    }
    static inline Cmp ge(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    static inline V select(Cmp m, V if_false, V if_true) { return _mm256_blendv_ps(if_false, if_true, m); }
    static inline float reduce_add(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }

    // bf16 as in Avx512; tails go through a stack copy (AVX2 has no 16-bit masked moves).
    static inline int lanes(Mask m) { return __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m))); }
    static inline V widen_bf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
    static inline __m128i narrow_bf16(V v) {
        const __m256i u = _mm256_castps_si256(v), high = _mm256_srli_epi32(u, 16);
        const __m256i bias = _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7fff));
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(high, _mm256_set1_epi32(0x40)), nan);
        const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
        r = _mm256_blendv_epi8(r, _mm256_and_si256(high, _mm256_set1_epi32(0x8000)), tiny);
        return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));  // values fit 16 bits
    }
    static inline V load_bf16(const uint16_t* p, FullMask) { return widen_bf16(_mm_loadu_si128((const __m128i*)p)); }
    static inline V load_bf16(const uint16_t* p, Mask m) {
        alignas(16) uint16_t t[8] = {};
        std::memcpy(t, p, sizeof(uint16_t) * (size_t)lanes(m));
        return widen_bf16(_mm_load_si128((const __m128i*)t));
    }
    static inline void store_bf16(uint16_t* p, FullMask, V v) { _mm_storeu_si128((__m128i*)p, narrow_bf16(v)); }
    static inline void store_bf16(uint16_t* p, Mask m, V v) {
        alignas(16) uint16_t t[8];
        _mm_store_si128((__m128i*)t, narrow_bf16(v));
        std::memcpy(p, t, sizeof(uint16_t) * (size_t)lanes(m));
    }
};
#endif

// Stores v at p in p's element type: fp32 as it is, bf16 (uint16_t) rounded to nearest even.
template <class T, class M>
inline void store_as(float* p, M m, typename T::V v) { T::store(p, m, v); }
template <class T, class M>
inline void store_as(uint16_t* p, M m, typename T::V v) { T::store_bf16(p, m, v); }
// store_as that returns the value as stored (bf16: rounded), for sums that must see what a later
// pass will read back.
template <class T, class M>
inline typename T::V store_kept(float* p, M m, typename T::V v) {
    T::store(p, m, v);
    return v;
}
template <class T, class M>
inline typename T::V store_kept(uint16_t* p, M m, typename T::V v) {
    const auto h = T::narrow_bf16(v);
    T::store_bf16(p, m, v);
    return T::widen_bf16(h);
}
// Loads p's element type into fp32 lanes (bf16 widens exactly).
template <class T, class M>
inline typename T::V load_as(const float* p, M m) { return T::load(p, m); }
template <class T, class M>
inline typename T::V load_as(const uint16_t* p, M m) { return T::load_bf16(p, m); }

// The math below works on K independent vectors at once, statement by statement, so their long
// dependency chains (~100 cycles for the normal CDF) interleave in program order instead of leaving
// the core waiting on latencies. always_inline: out of line, the K vectors would pass through memory.
#define CNX_K _Pragma("GCC unroll 8") for (int k = 0; k < K; k++)

// How many vectors the GELU kernels pass to normal_cdf at once: enough independent chains to keep the
// FMA pipes busy while each waits on latencies.
constexpr int kCdfBlock = 8;

// exp(a + b) for a "hi + lo" argument (|b| small against |a| or both small), about 1 ulp: the
// reduction r = a - n*ln2 is exact in its high part, so the lo word is not lost to rounding of a.
// The caller keeps a + b within [-87, 0.5]: there 2^n stays a normal number for T::scale2.
template <class T, int K>
__attribute__((always_inline)) inline void exp_hilo(typename T::V* y, const typename T::V* a, const typename T::V* b) {
    using V = typename T::V;
    V n[K], r[K], p[K];
    CNX_K n[k] = T::round(T::mul(T::add(a[k], b[k]), T::set1(1.44269504088896341f)));
    // ln2 split: ln2_hi has 16 significant bits so n*ln2_hi is exact for |n| <= 127.
    CNX_K r[k] = T::fnmadd(n[k], T::set1(0.693145751953125f), a[k]);
    CNX_K r[k] = T::add(T::fnmadd(n[k], T::set1(1.428606765330187e-06f), r[k]), b[k]);
    // exp(r) on [-ln2/2, ln2/2]: degree-6 Chebyshev fit (relative error < 3e-9).
    CNX_K p[k] = T::fmadd(T::set1(0.00139432217666f), r[k], T::set1(0.00837681850246f));
    CNX_K p[k] = T::fmadd(p[k], r[k], T::set1(0.0416663270023f));
    CNX_K p[k] = T::fmadd(p[k], r[k], T::set1(0.166663947819f));
    CNX_K p[k] = T::fmadd(p[k], r[k], T::set1(0.500000005307f));
    CNX_K p[k] = T::fmadd(p[k], r[k], T::set1(1.00000004248f));
    CNX_K p[k] = T::fmadd(p[k], r[k], T::set1(1.0f));
    CNX_K y[k] = T::scale2(p[k], n[k]);
}

// Phi(x) = 0.5 * erfc(-x / sqrt(2)), the normal CDF, and optionally the density
// phi(x) = exp(-x^2/2) / sqrt(2 pi). erfc(z) = t * exp(-z^2 + P(t)), t = 1/(1 + z/2): the Chebyshev
// fit of Numerical Recipes (erfcc, relative error < 1.2e-7 for all z >= 0). Here in u = t/2 =
// 1/(2 + z), with the coefficients scaled by powers of two (exact), so erfc(z)/2 = u * exp(...).
// z^2 = x^2/2 is formed exactly as hi + lo with an FMA, so large |x| keeps full relative precision
// in the tails. |x| is clamped at 13 (Phi(-13) = 6e-39, below float's normal range) so the
// exponent never leaves exp_hilo's range.
template <class T, int K>
__attribute__((always_inline)) inline void normal_cdf(typename T::V* cdf, typename T::V* pdf, const typename T::V* x) {
    using V = typename T::V;
    V ax[K], u[K], p[K], a[K], b[K], e[K];
    CNX_K ax[k] = T::min(T::abs(x[k]), T::set1(13.0f));
    // A division: faster here than the reciprocal estimate and its Newton step, which compete
    // with the polynomials for the FMA pipes.
    CNX_K u[k] = T::div(T::set1(1.0f), T::fmadd(ax[k], T::set1(0.70710678118654752f), T::set1(2.0f)));
    CNX_K p[k] = T::fmadd(T::set1(0.17087277f * 512), u[k], T::set1(-0.82215223f * 256));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(1.48851587f * 128));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(-1.13520398f * 64));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(0.27886807f * 32));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(-0.18628806f * 16));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(0.09678418f * 8));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(0.37409196f * 4));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(1.00002368f * 2));
    CNX_K p[k] = T::fmadd(p[k], u[k], T::set1(-1.26551223f));
    CNX_K {
        const V m = T::mul(ax[k], T::set1(-0.5f));  // exact
        a[k] = T::mul(m, ax[k]);
        b[k] = T::fmsub(m, ax[k], a[k]);  // -x*x/2 - a exactly
    }
    if (pdf) {
        exp_hilo<T, K>(e, a, b);
        CNX_K pdf[k] = T::mul(e[k], T::set1(0.39894228040143268f));
    }
    CNX_K b[k] = T::add(b[k], p[k]);
    exp_hilo<T, K>(e, a, b);
    // x >= 0: 1 - erfc(z)/2;  x < 0: erfc(z)/2
    CNX_K {
        const V half_erfc = T::mul(u[k], e[k]);
        cdf[k] = T::select(T::ge(x[k], T::zero()), half_erfc, T::sub(T::set1(1.0f), half_erfc));
    }
}

#undef CNX_K

}  // namespace
}  // namespace cnx
