// Threading for the nn layer (OpenMP). Kernels never thread; layers split work with parallel_for,
// whose partition depends only on the work size and the thread count, so per-thread partial sums
// (weight gradients) add up in the same order every step: bit-identical results for a fixed
// thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/arena.h"
#include "core/check.h"

namespace cnx {

// Threads used by our layers and by oneDNN (one OpenMP runtime serves both).
int num_threads();
// Sets the thread count (>= 1); 0 keeps the OpenMP default (OMP_NUM_THREADS or all cores). Returns
// the count now in use.
int set_num_threads(int n);
// CPUs this process may run on (its affinity mask).
int usable_cpus();

// Calls f(begin, end, thread) on contiguous, equal slices of [0, n), one per thread.
template <class F>
void parallel_for(int64_t n, F&& f) {
    if (n <= 0) return;
    int nt = (int)std::min<int64_t>(num_threads(), n);
    if (nt <= 1) {
        f((int64_t)0, n, 0);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int T = omp_get_num_threads();
        int64_t b = n * t / T, e = n * (t + 1) / T;
        if (b < e) f(b, e, t);
    }
}

// As parallel_for over items [0, n) with costs given as prefix sums (prefix[i] = cost of items
// [0, i), n + 1 entries): each thread's contiguous slice holds about an equal share of the total
// cost. The partition depends only on the costs and the thread count (deterministic).
template <class Prefix, class F>
void parallel_for_weighted(const Prefix& prefix, F&& f) {
    const int64_t n = (int64_t)prefix.size() - 1;
    if (n <= 0) return;
    int nt = (int)std::min<int64_t>(num_threads(), n);
    if (nt <= 1) {
        f((int64_t)0, n, 0);
        return;
    }
    const int64_t total = (int64_t)prefix.back();
    // first item whose start lies at or beyond the share boundary
    auto split = [&](int t, int T) {
        if (t >= T) return n;
        const int64_t target = (int64_t)((double)total * t / T);
        return (int64_t)(std::lower_bound(prefix.begin(), prefix.end() - 1, target,
                                          [](auto p, int64_t v) { return (int64_t)p < v; }) - prefix.begin());
    };
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int T = omp_get_num_threads();
        int64_t b = split(t, T), e = split(t + 1, T);
        if (b < e) f(b, e, t);
    }
}

// Per-thread partial sums of a gradient vector, reduced in thread order (deterministic).
class GradPartials {
public:
    void init(int64_t size);  // one slice of `size` floats per possible thread
    // Zeroes every slice; call before the parallel region.
    void clear();
    float* slice(int thread) {
        CNX_CHECK(thread < threads_, "more threads than when the layer was planned");
        return buf_.data() + (int64_t)thread * stride_;
    }
    // grad[i] += sum over threads (in order) of slice[t][begin + i], for i < count (default: all).
    void reduce_into(float* grad, int64_t begin = 0, int64_t count = -1) const;
    int64_t size() const { return size_; }

private:
    // Slices start 64-byte aligned with 32 KB between them: closer, one thread's writes slowed the
    // small calls of the thread whose slice lay just above (a prefetcher pulling lines away).
    static constexpr int64_t kGapFloats = 32 * 1024 / sizeof(float);
    FloatBuffer buf_;
    int64_t size_ = 0, stride_ = 0;
    int threads_ = 0;
};

}  // namespace cnx
