// Depthwise 7x7 convolution, stride 1, zero padding 3, with bias (cross-correlation, no flip).
//
// Layouts: one image at a time, NHWC: src/dst [H][W][C]; weights [7][7][C] (tap-major, channels
// fastest, so every tap is a contiguous vector of C); bias [C].
// A call covers the output region rows [h0, h1) x cols [w0, w1) of one image: the whole image, a
// band of rows for one thread, or one visible tile of a masked image. Reads of src outside the image
// are zero padding; masked sites of src are expected to hold zeros (the masked encoder keeps them
// so), which makes a call on a visible tile exactly the submanifold sparse convolution.
#pragma once

#include <cstdint>

namespace cnx {

constexpr int kDwK = 7;     // kernel size
constexpr int kDwPad = 3;   // padding on each side
constexpr int kDwTaps = 49;

// dst[h,w,:] = bias + sum_{i,j} wei[i][j][:] * src[h+i-3, w+j-3, :] for (h,w) in the region.
typedef void (*dwconv_fwd_fn)(float* dst, const float* src, const float* wei, const float* bias, int64_t H,
                              int64_t W, int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
// d_src[h,w,:] += sum_{i,j} wei[i][j][:] * d_dst[h-i+3, w-j+3, :] for (h,w) in the region
// (the gradient of the forward at input sites of the region, reading d_dst around it).
typedef void (*dwconv_bwd_data_fn)(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W,
                                   int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
// d_wei[i][j][:] += sum_{(h,w) in region} d_dst[h,w,:] * src[h+i-3, w+j-3, :]; d_bias += sum d_dst.
typedef void (*dwconv_bwd_wei_fn)(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H,
                                  int64_t W, int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);

void dwconv_fwd_ref(float* dst, const float* src, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_data_ref(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W, int64_t C,
                         int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_wei_ref(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                        int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_fwd_avx2(float* dst, const float* src, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_data_avx2(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W, int64_t C,
                         int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_wei_avx2(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                        int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_fwd_avx512(float* dst, const float* src, const float* wei, const float* bias, int64_t H, int64_t W,
                    int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_data_avx512(float* d_src, const float* d_dst, const float* wei, int64_t H, int64_t W, int64_t C,
                         int64_t h0, int64_t h1, int64_t w0, int64_t w1);
void dwconv_bwd_wei_avx512(float* d_wei, float* d_bias, const float* d_dst, const float* src, int64_t H, int64_t W,
                        int64_t C, int64_t h0, int64_t h1, int64_t w0, int64_t w1);

}  // namespace cnx
