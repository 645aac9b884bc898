// fp32 <-> bf16 over a flat array, threaded (simd/bf16/bf16.h: round to nearest even, as
// VCVTNEPS2BF16; widening is exact).
#pragma once

#include <cstdint>
#include <vector>

#include "simd/bf16/bf16.h"

namespace cnx {

void to_bf16(bf16* dst, const float* src, int64_t n);
void from_bf16(float* dst, const bf16* src, int64_t n);
// The n values rounded to bf16: a weight copy that bf16 GEMMs read as it is.
std::vector<bf16> bf16_copy(const float* src, int64_t n);

}  // namespace cnx
