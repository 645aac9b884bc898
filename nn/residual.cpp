#include "nn/residual.h"

#include "nn/parallel.h"
#include "simd/bf16/bf16.h"

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

template <class Y>
static void residual_forward_as(float* x_out, const float* x_in, const Y* y, const float* scale, int64_t N, int64_t per_sample) {
    parallel_for(N * per_sample, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) {
            float s = scale ? scale[i / per_sample] : 1.0f;
            x_out[i] = x_in[i] + s * load_in(y + i);
        }
    });
}

void residual_forward(float* x_out, const float* x_in, const float* y, const float* scale, int64_t N, int64_t per_sample) {
    residual_forward_as(x_out, x_in, y, scale, N, per_sample);
}

void residual_forward(float* x_out, const float* x_in, const bf16* y, const float* scale, int64_t N, int64_t per_sample) {
    residual_forward_as(x_out, x_in, y, scale, N, per_sample);
}

void residual_branch_grad(float* dy, const float* dx_out, const float* scale, int64_t N, int64_t per_sample) {
    parallel_for(N * per_sample, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) dy[i] = scale[i / per_sample] * dx_out[i];
    });
}

template <class Y>
static void residual_forward_rows_as(float* x_out, const float* x_in, const Y* y, const float* scale, const int64_t* off,
                                     int64_t rows, int64_t rows_per_sample, int64_t C) {
    parallel_for(rows, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; r++) {
            const float s = scale ? scale[r / rows_per_sample] : 1.0f;
            const Y* yr = y + r * C;
            const float* xi = x_in + off[r];
            float* xo = x_out + off[r];
            for (int64_t c = 0; c < C; c++) xo[c] = xi[c] + s * load_in(yr + c);
        }
    });
}

void residual_forward_rows(float* x_out, const float* x_in, const float* y, const float* scale, const int64_t* off,
                           int64_t rows, int64_t rows_per_sample, int64_t C) {
    residual_forward_rows_as(x_out, x_in, y, scale, off, rows, rows_per_sample, C);
}

void residual_forward_rows(float* x_out, const float* x_in, const bf16* y, const float* scale, const int64_t* off,
                           int64_t rows, int64_t rows_per_sample, int64_t C) {
    residual_forward_rows_as(x_out, x_in, y, scale, off, rows, rows_per_sample, C);
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
