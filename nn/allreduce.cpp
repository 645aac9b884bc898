#include "nn/allreduce.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "core/timer.h"
#include "nn/parallel.h"

namespace cnx {

GradientAllreduce::GradientAllreduce(const std::vector<std::pair<int64_t, int64_t>>& tensors, int64_t bucket_floats) {
    int64_t at = 0;
    for (const auto& t : tensors) {
        CNX_CHECK(t.first == at && t.second > t.first, "tensor spans must cover the buffer in order");
        if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= bucket_floats)
            buckets_.push_back(Bucket{t.first, t.second});
        else
            buckets_.back().end = t.second;
        at = t.second;
    }
    thread_ = std::thread([this] { run(); });
}

GradientAllreduce::~GradientAllreduce() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void GradientAllreduce::begin_step(float* grads) {
    std::lock_guard<std::mutex> lock(mu_);
    CNX_CHECK(started_ == done_ && queue_.empty(), "gradient all-reduce still in flight");
    grads_ = grads;
    for (Bucket& b : buckets_) b.pending = b.end - b.begin;
    started_ = done_ = 0;
    first_start_ = last_done_ = 0;
}

void GradientAllreduce::ready(int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mu_);
    // buckets overlapping [begin, end), last first: backward runs from the end of the buffer
    for (int64_t i = (int64_t)buckets_.size() - 1; i >= 0; i--) {
        Bucket& b = buckets_[(size_t)i];
        const int64_t lo = std::max(begin, b.begin), hi = std::min(end, b.end);
        if (lo >= hi) continue;
        CNX_CHECK(b.pending >= hi - lo, "a gradient span reported twice in one step");
        b.pending -= hi - lo;
        if (b.pending == 0) {
            queue_.push_back(i);
            started_++;
        }
    }
    cv_.notify_all();
}

void GradientAllreduce::finish() {
    const double t0 = now_seconds();
    {
        std::unique_lock<std::mutex> lock(mu_);
        CNX_CHECK(started_ == (int64_t)buckets_.size(), "backward left gradients unreported");
        cv_.wait(lock, [&] { return done_ == started_; });
    }
    if (!error_.empty()) fail("%s", error_.c_str());
    exposed_s_ = now_seconds() - t0;
    span_s_ = last_done_ - first_start_;
    const float inv = 1.0f / (float)dist_size();
    const int64_t n = buckets_.back().end;
    parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; i++) grads_[i] *= inv;
    });
}

// Starts one bucket at a time, in queue order, and tests it every 50 us: sleeping between tests
// leaves the cores to backward (a blocking MPI call would spin on one).
void GradientAllreduce::run() {
    for (;;) {
        int64_t i;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            i = queue_.front();
            queue_.pop_front();
        }
        const Bucket& b = buckets_[(size_t)i];
        const double t0 = now_seconds();
        std::string error;
        try {
            DistSum sum;
            sum.start(grads_ + b.begin, b.end - b.begin);
            while (!sum.test()) std::this_thread::sleep_for(std::chrono::microseconds(50));
        } catch (const std::exception& e) {
            error = e.what();
        }
        const double t1 = now_seconds();
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (error_.empty()) error_ = error;
            if (done_ == 0) first_start_ = t0;
            last_done_ = t1;
            done_++;
        }
        cv_.notify_all();
    }
}

}  // namespace cnx
