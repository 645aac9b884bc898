#include "nn/convert.h"

#include <algorithm>

#include "nn/parallel.h"
#include "simd/kernels.h"

namespace cnx {

// Chunks of 32 values: whole cache lines of both types, so threads never share one.
static constexpr int64_t kChunk = 32;

template <class F>
static void for_chunks(int64_t n, F&& f) {
    parallel_for((n + kChunk - 1) / kChunk, [&](int64_t b, int64_t e, int) { f(b * kChunk, std::min(n, e * kChunk)); });
}

void to_bf16(bf16* dst, const float* src, int64_t n) {
    const Kernels& k = kernels();
    for_chunks(n, [&](int64_t i0, int64_t i1) { k.bf16_from_f32(dst + i0, src + i0, i1 - i0); });
}

void from_bf16(float* dst, const bf16* src, int64_t n) {
    const Kernels& k = kernels();
    for_chunks(n, [&](int64_t i0, int64_t i1) { k.f32_from_bf16(dst + i0, src + i0, i1 - i0); });
}

std::vector<bf16> bf16_copy(const float* src, int64_t n) {
    std::vector<bf16> copy((size_t)n);
    to_bf16(copy.data(), src, n);
    return copy;
}

}  // namespace cnx
