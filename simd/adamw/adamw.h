// AdamW update (decoupled weight decay), in PyTorch's order of operations:
//   p *= 1 - lr*wd;  m += (1-beta1)(g - m);  v = beta2 v + (1-beta2) g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - beta_k^step.
// The scalar factors are computed in double by the caller and rounded once, as PyTorch does with
// its Python-float hyper-parameters (1 - 0.999 in double, not 1.0f - 0.999f).
#pragma once

#include <cstdint>

#include "core/check.h"
#include "simd/bf16/bf16.h"

namespace cnx {

struct AdamWStep {
    float decay;                  // 1 - lr * weight_decay
    float step_size;              // lr / (1 - beta1^step)
    float one_minus_beta1;
    float beta2, one_minus_beta2;
    float eps;
    float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};

// The factors of one update (in double, rounded once).
AdamWStep adamw_step(double lr, double weight_decay, double beta1, double beta2, double eps, int64_t step);

using adamw_t = void(float* param, float* m, float* v, const float* grad, int64_t n, const AdamWStep* s);
// adamw that also writes param16 = the updated param rounded to bf16 (nearest even): the copy the
// GEMMs read in bf16 precision, refreshed in the same pass instead of converted before each product.
using adamw_bf16_t = void(float* param, bf16* param16, float* m, float* v, const float* grad, int64_t n,
                          const AdamWStep* s);

// What every AdamW kernel asks of its caller (checked in debug and sanitizer builds).
inline void adamw_dcheck(int64_t n, const AdamWStep* s) {
    CNX_DCHECK(n >= 0, "adamw: negative length");
    CNX_DCHECK(s != nullptr, "adamw: no step factors");
}

}  // namespace cnx
