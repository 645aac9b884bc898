#include "nn/gelu.h"

#include "nn/parallel.h"
#include "simd/kernels.h"

namespace cnx {

// Chunks of whole cache lines, so threads never share one.
static constexpr int64_t kChunk = 16;

void gelu_forward(float* y, const float* x, int64_t n) {
    const Kernels& k = kernels();
    int64_t chunks = (n + kChunk - 1) / kChunk;
    parallel_for(chunks, [&](int64_t b, int64_t e, int) {
        int64_t i0 = b * kChunk, i1 = std::min(n, e * kChunk);
        k.gelu_fwd(y + i0, x + i0, i1 - i0);
    });
}

void gelu_backward(float* dx, const float* dy, const float* x, int64_t n) {
    const Kernels& k = kernels();
    int64_t chunks = (n + kChunk - 1) / kChunk;
    parallel_for(chunks, [&](int64_t b, int64_t e, int) {
        int64_t i0 = b * kChunk, i1 = std::min(n, e * kChunk);
        k.gelu_bwd(dx + i0, dy + i0, x + i0, i1 - i0);
    });
}

}  // namespace cnx
