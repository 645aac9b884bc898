#include "nn/pool.h"

#include "nn/parallel.h"

namespace cnx {

void avgpool_forward(float* y, const float* x, int64_t N, int64_t R, int64_t C) {
    parallel_for(N, [&](int64_t b, int64_t e, int) {
        for (int64_t n = b; n < e; n++) {
            float* out = y + n * C;
            for (int64_t c = 0; c < C; c++) out[c] = 0.0f;
            for (int64_t r = 0; r < R; r++) {
                const float* row = x + (n * R + r) * C;
                for (int64_t c = 0; c < C; c++) out[c] += row[c];
            }
            const float inv = 1.0f / (float)R;
            for (int64_t c = 0; c < C; c++) out[c] *= inv;
        }
    });
}

void avgpool_backward(float* dx, const float* dy, int64_t N, int64_t R, int64_t C) {
    const float inv = 1.0f / (float)R;
    parallel_for(N * R, [&](int64_t b, int64_t e, int) {
        for (int64_t t = b; t < e; t++) {
            const float* g = dy + (t / R) * C;
            float* out = dx + t * C;
            for (int64_t c = 0; c < C; c++) out[c] = g[c] * inv;
        }
    });
}

}  // namespace cnx
