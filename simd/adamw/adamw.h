// AdamW update (decoupled weight decay), in PyTorch's order of operations:
//   p *= 1 - lr*wd;  m += (1-beta1)(g - m);  v = beta2 v + (1-beta2) g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - beta_k^step.
#pragma once

#include <cstdint>

namespace cnx {

struct AdamWStep {
    float lr;
    float weight_decay;
    float beta1, beta2, eps;
    float bias_correction1;       // 1 - beta1^step
    float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};

typedef void (*adamw_fn)(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s);

void adamw_ref(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s);

}  // namespace cnx
