#include "nn/patchify.h"

#include <cstring>

#include "nn/parallel.h"
#include "simd/kernels.h"

namespace cnx {

template <class Out, class Copy>
static void gather_as(Out* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, Copy copy) {
    const int64_t Ho = H / k, Wo = W / k;
    parallel_for(N * Ho, [&](int64_t b, int64_t e, int) {
        for (int64_t nh = b; nh < e; nh++) {
            int64_t n = nh / Ho, ho = nh % Ho;
            for (int64_t wo = 0; wo < Wo; wo++) {
                Out* dst = patches + ((n * Ho + ho) * Wo + wo) * k * k * C;
                for (int64_t i = 0; i < k; i++) copy(dst + i * k * C, src + ((n * H + ho * k + i) * W + wo * k) * C, k * C);
            }
        }
    });
}

void patch_gather(float* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k) {
    gather_as(patches, src, N, H, W, C, k, [](float* d, const float* s, int64_t n) { std::memcpy(d, s, (size_t)n * sizeof(float)); });
}

void patch_gather(bf16* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k) {
    const Kernels& kern = kernels();
    gather_as(patches, src, N, H, W, C, k, [&](bf16* d, const float* s, int64_t n) { kern.bf16_from_f32(d, s, n); });
}

void patch_offsets(int64_t* off, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k) {
    const int64_t Ho = H / k, Wo = W / k;
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                off[(n * H + h) * W + w] =
                    ((n * Ho + h / k) * Wo + w / k) * (k * k * C) + ((h % k) * k + (w % k)) * C;
}

}  // namespace cnx
