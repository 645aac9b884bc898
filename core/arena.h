// A 64-byte aligned bump allocator. Every large buffer of a model (activations, gradients of
// activations, scratch) comes from one arena that is sized once, before the first step.
//
// Planning is two-pass: run the plan against a counting arena (Arena::counting()), which hands out
// nothing and only sums the sizes, then reserve() a real arena of that size and run the plan again.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cnx {

class Arena {
public:
    static constexpr size_t kAlign = 64;

    Arena() = default;
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    Arena(Arena&& o) noexcept;

    static Arena counting();

    // Allocates `bytes` of zeroed, 64-byte aligned memory (drops what was there).
    void reserve(size_t bytes);

    // Returns aligned memory of `bytes` (nullptr on a counting arena). Aborts if the plan overflows.
    void* alloc(size_t bytes);
    float* alloc_floats(size_t count) { return static_cast<float*>(alloc(count * sizeof(float))); }

    void reset() { used_ = 0; }
    size_t used() const { return used_; }
    size_t capacity() const { return capacity_; }
    bool is_counting() const { return counting_; }

private:
    char* base_ = nullptr;
    size_t capacity_ = 0;
    size_t used_ = 0;
    bool counting_ = false;
};

// Aligned heap buffer of floats (owns its memory); for parameters, gradients and optimizer state.
class FloatBuffer {
public:
    FloatBuffer() = default;
    explicit FloatBuffer(size_t count) { resize(count); }
    ~FloatBuffer();
    FloatBuffer(const FloatBuffer& o);
    FloatBuffer& operator=(const FloatBuffer& o);
    FloatBuffer(FloatBuffer&& o) noexcept;
    FloatBuffer& operator=(FloatBuffer&& o) noexcept;

    void resize(size_t count);  // zero-filled
    void zero();
    float* data() { return data_; }
    const float* data() const { return data_; }
    size_t size() const { return size_; }
    float& operator[](size_t i) { return data_[i]; }
    float operator[](size_t i) const { return data_[i]; }

private:
    float* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace cnx
