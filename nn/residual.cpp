#include "nn/residual.h"

#include "nn/parallel.h"

namespace cnx {

void drop_path_scales(float* scale, int64_t N, float p, uint64_t key, int64_t first) {
    const float keep = 1.0f - p;
    for (int64_t n = 0; n < N; n++) {
        if (p <= 0.0f) {
            scale[n] = 1.0f;
            continue;
        }
        Rng rng(stream_key(key, (uint64_t)(first + n)));
        scale[n] = rng.uniform() < keep ? 1.0f / keep : 0.0f;
    }
}

void residual_forward(float* x_out, const float* x_in, const float* y, const float* scale, int64_t N,
                      int64_t per_sample) {
    parallel_for(N * per_sample, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            float s = scale ? scale[i / per_sample] : 1.0f;
            x_out[i] = x_in[i] + s * y[i];
        }
    });
}

void residual_branch_grad(float* dy, const float* dx_out, const float* scale, int64_t N, int64_t per_sample) {
    parallel_for(N * per_sample, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) dy[i] = scale[i / per_sample] * dx_out[i];
    });
}

void residual_forward_rows(float* x_out, const float* x_in, const float* y, const float* scale, const int64_t* off,
                           int64_t rows, int64_t rows_per_sample, int64_t C) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) {
            const float s = scale ? scale[r / rows_per_sample] : 1.0f;
            const float* yr = y + r * C;
            const float* xi = x_in + off[r];
            float* xo = x_out + off[r];
            for (int64_t c = 0; c < C; c++) xo[c] = xi[c] + s * yr[c];
        }
    });
}

void residual_branch_grad_rows(float* dy, const float* dx_out, const float* scale, const int64_t* off, int64_t rows,
                               int64_t rows_per_sample, int64_t C) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) {
            const float s = scale ? scale[r / rows_per_sample] : 1.0f;
            const float* g = dx_out + off[r];
            float* d = dy + r * C;
            for (int64_t c = 0; c < C; c++) d[c] = s * g[c];
        }
    });
}

}  // namespace cnx
