// Scalar reference AdamW.
#include <cmath>

#include "simd/adamw/adamw.h"

namespace cnx {

void adamw_ref(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    const float decay = 1.0f - s->lr * s->weight_decay;
    const float step_size = s->lr / s->bias_correction1;
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] + (1.0f - s->beta1) * (g - m[i]);
        float vi = s->beta2 * v[i] + (1.0f - s->beta2) * g * g;
        float denom = std::sqrt(vi) / s->bias_correction2_sqrt + s->eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

}  // namespace cnx
