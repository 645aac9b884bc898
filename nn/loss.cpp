#include "nn/loss.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace cnx {

// log sum_k exp z[k], shifted by the maximum.
static double log_sum_exp(const float* z, int64_t K) {
    double mx = z[0];
    for (int64_t k = 1; k < K; k++) mx = std::max(mx, (double)z[k]);
    double se = 0.0;
    for (int64_t k = 0; k < K; k++) se += std::exp((double)z[k] - mx);
    return mx + std::log(se);
}

double cross_entropy(float* dlogits, const float* logits, const int32_t* labels, int64_t N, int64_t K,
                     float smoothing) {
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float* z = logits + n * K;
        int32_t y = labels[n];
        CNX_CHECK(y >= 0 && y < K, "label out of range");
        const double lse = log_sum_exp(z, K);
        double mean_nll = 0.0;
        for (int64_t k = 0; k < K; k++) mean_nll += lse - (double)z[k];
        mean_nll /= (double)K;
        total += (1.0 - smoothing) * (lse - (double)z[y]) + smoothing * mean_nll;
        if (dlogits) {
            float* d = dlogits + n * K;
            for (int64_t k = 0; k < K; k++) {
                double p = std::exp((double)z[k] - lse);
                double target = smoothing / (double)K + (k == y ? 1.0 - smoothing : 0.0);
                d[k] = (float)((p - target) / (double)N);
            }
        }
    }
    return total / (double)N;
}

double soft_cross_entropy(float* dlogits, const float* logits, const float* targets, int64_t N, int64_t K) {
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float* z = logits + n * K;
        const float* t = targets + n * K;
        const double lse = log_sum_exp(z, K);
        double t_sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            total += (double)t[k] * (lse - (double)z[k]);
            t_sum += (double)t[k];
        }
        if (dlogits) {
            float* d = dlogits + n * K;
            for (int64_t k = 0; k < K; k++) d[k] = (float)((std::exp((double)z[k] - lse) * t_sum - (double)t[k]) / (double)N);
        }
    }
    return total / (double)N;
}

int64_t count_topk_correct(const float* logits, const int32_t* labels, int64_t N, int64_t K, int64_t k) {
    int64_t correct = 0;
    for (int64_t n = 0; n < N; n++) {
        const float* z = logits + n * K;
        float zy = z[labels[n]];
        if (std::isnan(zy)) continue;  // a NaN score is never a correct answer
        int64_t better = 0;  // classes ranked above the label (a NaN ranks above everything)
        for (int64_t j = 0; j < K; j++)
            if (std::isnan(z[j]) || z[j] > zy || (z[j] == zy && j < labels[n])) better++;
        if (better < k) correct++;
    }
    return correct;
}

}  // namespace cnx
