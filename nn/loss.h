// Softmax cross-entropy with label smoothing (PyTorch's F.cross_entropy(label_smoothing=eps)):
//   loss_n = (1 - eps) * (-log p[y_n]) + eps * mean_k(-log p[k]),  loss = mean over n.
#pragma once

#include <cstdint>

namespace cnx {

// Returns the mean loss over N rows of K logits; writes dlogits = d loss / d logits (may be null).
// Labels must be in [0, K).
double cross_entropy(float* dlogits, const float* logits, const int32_t* labels, int64_t N, int64_t K,
                     float smoothing);

// Soft-target cross-entropy (timm's SoftTargetCrossEntropy, used with Mixup/CutMix):
//   loss_n = sum_k -t[n][k] log p[n][k],  loss = mean over n;  d loss / d z[n][k] = (p * sum_k t - t) / N.
// targets [N][K]: non-negative weights, normally summing to 1 per row.
double soft_cross_entropy(float* dlogits, const float* logits, const float* targets, int64_t N, int64_t K);

// Number of rows whose label is among the top-k logits (ties broken by lower class index; a NaN
// logit ranks above every number, so a row with NaNs is not counted correct by accident).
int64_t count_topk_correct(const float* logits, const int32_t* labels, int64_t N, int64_t K, int64_t k);

}  // namespace cnx
