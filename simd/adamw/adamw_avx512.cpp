#include "simd/adamw/adamw.h"
#include "simd/adamw/adamw_simd.h"

namespace cnx {

void adamw_avx512(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    adamw_simd<Avx512>(param, m, v, grad, n, s);
}

}  // namespace cnx
