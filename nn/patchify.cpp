#include "nn/patchify.h"

#include <cstring>

#include "nn/parallel.h"

namespace cnx {

void patch_gather(float* patches, const float* src, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k) {
    const int64_t Ho = H / k, Wo = W / k;
    parallel_for(N * Ho, [&](int64_t b, int64_t e, int) {
        for (int64_t nh = b; nh < e; nh++) {
            int64_t n = nh / Ho, ho = nh % Ho;
            for (int64_t wo = 0; wo < Wo; wo++) {
                float* dst = patches + ((n * Ho + ho) * Wo + wo) * k * k * C;
                for (int64_t i = 0; i < k; i++) {
                    const float* s = src + ((n * H + ho * k + i) * W + wo * k) * C;
                    std::memcpy(dst + i * k * C, s, (size_t)(k * C) * sizeof(float));
                }
            }
        }
    });
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
