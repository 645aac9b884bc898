// The gradient all-reduce of a data-parallel step. The flat gradient buffer is cut into buckets of a
// few MB at tensor boundaries; backward reports spans of final gradients (ConvNeXtV2::GradReady), and
// a bucket's sum over the ranks starts as soon as all of it is final, non-blocking, on a helper
// thread that drives MPI's progress while backward computes. finish() waits for every bucket and
// divides by the rank count: each rank's gradient is the mean over its share of the batch, so the
// result is the mean over the global batch, as one process computes it, up to summation order.
// The buckets start in the same order on every rank and in every run: the sums round the same way.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/dist.h"

namespace cnx {

// Buckets of 1M floats (4 MB): few enough that each message is long, small enough that the first
// starts early in backward.
constexpr int64_t kGradientBucketFloats = 1 << 20;

class GradientAllreduce {
public:
    // tensors: the [begin, end) spans of the parameter tensors, in order, covering [0, total).
    GradientAllreduce(const std::vector<std::pair<int64_t, int64_t>>& tensors, int64_t bucket_floats);
    ~GradientAllreduce();
    GradientAllreduce(const GradientAllreduce&) = delete;
    GradientAllreduce& operator=(const GradientAllreduce&) = delete;

    void begin_step(float* grads);
    void ready(int64_t begin, int64_t end);  // grads [begin, end) are final for this step
    // ready() as the callback a model's backward calls (ConvNeXtV2::set_grad_ready).
    std::function<void(int64_t, int64_t)> ready_hook() {
        return [this](int64_t begin, int64_t end) { ready(begin, end); };
    }
    void finish();                           // every bucket summed, divided by the rank count

    int64_t buckets() const { return (int64_t)buckets_.size(); }
    // Of the last step: seconds finish() waited (the part not hidden behind backward), and from the
    // first bucket's start to the last one's end.
    double exposed_seconds() const { return exposed_s_; }
    double span_seconds() const { return span_s_; }

private:
    struct Bucket {
        int64_t begin, end;
        int64_t pending = 0;  // floats not yet reported final this step
    };
    void run();  // the helper thread
    std::vector<Bucket> buckets_;
    float* grads_ = nullptr;
    std::deque<int64_t> queue_;  // buckets to start, in order
    int64_t started_ = 0, done_ = 0;
    double first_start_ = 0, last_done_ = 0, exposed_s_ = 0, span_s_ = 0;
    bool stop_ = false;
    std::string error_;  // an MPI failure on the helper thread, reported by finish()
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread thread_;
};

}  // namespace cnx
