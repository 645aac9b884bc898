// Non-owning views of fp32 activations: an NHWC tensor (channels fastest, contiguous), and rows of
// channels, contiguous or gathered.
#pragma once

#include <cstdint>
#include <type_traits>

namespace cnx {

// Rows of C floats: row r starts at data + (off ? off[r] : r * C). The element offsets let one pass
// gather the visible rows of a dense map, or scatter rows into a downsample's patch layout, without
// a copy. Rows (float) converts to ConstRows (const float).
template <class T>
struct RowsOf {
    T* data = nullptr;
    const int64_t* off = nullptr;  // null: contiguous rows

    RowsOf() = default;
    RowsOf(T* d, const int64_t* o = nullptr) : data(d), off(o) {}
    template <class U, class = std::enable_if_t<std::is_same<const U, T>::value>>
    RowsOf(const RowsOf<U>& r) : data(r.data), off(r.off) {}

    T* row(int64_t r, int64_t C) const { return data + (off ? off[r] : r * C); }
    // The rows from row r on.
    RowsOf from(int64_t r, int64_t C) const { return off ? RowsOf(data, off + r) : RowsOf(data + r * C); }
};
using Rows = RowsOf<float>;
using ConstRows = RowsOf<const float>;

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
