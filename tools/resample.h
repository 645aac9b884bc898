// Resampling of 8-bit images exactly as Pillow (9.x) does it, because torchvision/timm training
// pipelines run on PIL images and the paper's recipe (bicubic random-resized-crop, RandAugment's
// rotate/shear/translate) is defined by what Pillow computes:
//   resize_image:  Image.resize(size, resample) with its antialiasing (the filter widens by the scale
//                  factor when shrinking), 22-bit fixed-point coefficients, horizontal pass then
//                  vertical pass, each rounded and clipped to 8 bits;
//   crop_image:    Image.crop with an integer box (pixels outside the image are 0);
//   affine_image:  Image.transform(size, AFFINE, m, resample, fillcolor): output pixel (x, y) takes
//                  the input at (m0 (x+.5) + m1 (y+.5) + m2, m3 (x+.5) + m4 (y+.5) + m5); points
//                  outside the input keep the fill colour;
//   rotate_image:  Image.rotate(degrees, resample, fillcolor) (counter-clockwise about the centre,
//                  same size).
#pragma once

#include <cstdint>
#include <string>

#include "tools/image.h"

namespace cnx {

enum class Interpolation { Nearest, Bilinear, Bicubic };
Interpolation parse_interpolation(const std::string& name);  // "nearest", "bilinear", "bicubic"; throws otherwise

Image resize_image(const Image& src, int out_w, int out_h, Interpolation f);
Image crop_image(const Image& src, int left, int top, int width, int height);
Image affine_image(const Image& src, const double m[6], Interpolation f, const uint8_t fill[3]);
Image rotate_image(const Image& src, double degrees, Interpolation f, const uint8_t fill[3]);

}  // namespace cnx
