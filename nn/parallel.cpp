#include "nn/parallel.h"

#include <algorithm>
#include <cstring>

namespace cnx {

int num_threads() { return omp_get_max_threads(); }

int set_num_threads(int n) {
    if (n > 0) omp_set_num_threads(n);
    return num_threads();
}

int usable_cpus() { return std::max(1, omp_get_num_procs()); }

void GradPartials::init(int64_t size) {
    threads_ = std::max(1, num_threads());
    size_ = size;
    stride_ = (size + 15) / 16 * 16 + kGapFloats;
    buf_.resize((size_t)(threads_ * stride_));
}

void GradPartials::clear() {
    for (int t = 0; t < threads_; t++) std::fill(slice(t), slice(t) + size_, 0.0f);
}

void GradPartials::reduce_into(float* grad, int64_t begin, int64_t count) const {
    if (count < 0) count = size_ - begin;
    for (int t = 0; t < threads_; t++) {
        const float* s = buf_.data() + (int64_t)t * stride_ + begin;
        for (int64_t i = 0; i < count; i++) grad[i] += s[i];
    }
}

}  // namespace cnx
