// Scalar reference AdamW.
#include <cmath>

#include "simd/kernels.h"

namespace cnx {

AdamWStep adamw_step(double lr, double weight_decay, double beta1, double beta2, double eps, int64_t step) {
    AdamWStep s;
    s.decay = (float)(1.0 - lr * weight_decay);
    s.step_size = (float)(lr / (1.0 - std::pow(beta1, (double)step)));
    s.one_minus_beta1 = (float)(1.0 - beta1);
    s.beta2 = (float)beta2;
    s.one_minus_beta2 = (float)(1.0 - beta2);
    s.eps = (float)eps;
    s.bias_correction2_sqrt = (float)std::sqrt(1.0 - std::pow(beta2, (double)step));
    return s;
}

// param16 null: no bf16 copy.
static void adamw_ref_as(float* param, bf16* param16, float* m, float* v, const float* grad, int64_t n,
                         const AdamWStep* s) {
    adamw_dcheck(n, s);
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * s->decay;
        float mi = m[i] + s->one_minus_beta1 * (g - m[i]);
        float vi = s->beta2 * v[i] + s->one_minus_beta2 * (g * g);
        float denom = std::sqrt(vi) / s->bias_correction2_sqrt + s->eps;
        param[i] = p - s->step_size * (mi / denom);
        if (param16) param16[i] = bf16_from_float(param[i]);
        m[i] = mi;
        v[i] = vi;
    }
}

void adamw_ref(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    adamw_ref_as(param, nullptr, m, v, grad, n, s);
}

void adamw_bf16_ref(float* param, bf16* param16, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s) {
    CNX_DCHECK(param16 != nullptr, "adamw_bf16: no bf16 copy");
    adamw_ref_as(param, param16, m, v, grad, n, s);
}

}  // namespace cnx
