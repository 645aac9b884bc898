// A non-owning view of an fp32 activation tensor in NHWC order (channels fastest, contiguous).
#pragma once

#include <cstdint>

namespace cnx {

struct TensorView {
    float* data = nullptr;
    int64_t n = 0, h = 0, w = 0, c = 0;  // (N, H, W, C); token-major rows of C floats

    int64_t tokens() const { return n * h * w; }
    int64_t numel() const { return n * h * w * c; }
    float* row(int64_t token) const { return data + token * c; }
    float* at(int64_t in, int64_t ih, int64_t iw) const { return data + ((in * h + ih) * w + iw) * c; }
};

inline TensorView make_view(float* data, int64_t n, int64_t h, int64_t w, int64_t c) {
    TensorView v;
    v.data = data;
    v.n = n;
    v.h = h;
    v.w = w;
    v.c = c;
    return v;
}

}  // namespace cnx
