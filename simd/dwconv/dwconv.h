// Depthwise 7x7 convolution, stride 1, zero padding 3, with bias (cross-correlation, no flip): the
// kernel families' types, by algorithm. Which algorithm runs for a map: dwconv_algo.h.
#pragma once

#include "simd/dwconv/dwconv_algo.h"
#include "simd/dwconv/dwconv_lists.h"
#include "simd/dwconv/dwconv_pairs.h"
#include "simd/dwconv/dwconv_regions.h"
