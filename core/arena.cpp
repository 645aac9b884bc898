#include "core/arena.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "core/check.h"

namespace cnx {

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static void* aligned_zeroed(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = std::aligned_alloc(Arena::kAlign, round_up(bytes, Arena::kAlign));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return p;
}

Arena::~Arena() { std::free(base_); }

Arena::Arena(Arena&& o) noexcept
    : base_(o.base_), capacity_(o.capacity_), used_(o.used_), counting_(o.counting_) {
    o.base_ = nullptr;
    o.capacity_ = o.used_ = 0;
}

Arena Arena::counting() {
    Arena a;
    a.counting_ = true;
    return a;
}

void Arena::reserve(size_t bytes) {
    CNX_CHECK(!counting_, "reserve on a counting arena");
    std::free(base_);
    base_ = nullptr;
    capacity_ = round_up(bytes, kAlign);
    used_ = 0;
    base_ = static_cast<char*>(aligned_zeroed(capacity_));
}

void* Arena::alloc(size_t bytes) {
    size_t size = round_up(bytes, kAlign);
    if (counting_) {
        used_ += size;
        return nullptr;
    }
    CNX_CHECK(used_ + size <= capacity_, "arena overflow: the plan changed between passes");
    void* p = base_ + used_;
    used_ += size;
    return p;
}

FloatBuffer::~FloatBuffer() { std::free(data_); }

FloatBuffer::FloatBuffer(const FloatBuffer& o) {
    resize(o.size_);
    if (size_) std::memcpy(data_, o.data_, size_ * sizeof(float));
}

FloatBuffer& FloatBuffer::operator=(const FloatBuffer& o) {
    if (this != &o) {
        resize(o.size_);
        if (size_) std::memcpy(data_, o.data_, size_ * sizeof(float));
    }
    return *this;
}

FloatBuffer::FloatBuffer(FloatBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
}

FloatBuffer& FloatBuffer::operator=(FloatBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
}

void FloatBuffer::resize(size_t count) {
    std::free(data_);
    data_ = static_cast<float*>(aligned_zeroed(count * sizeof(float)));
    size_ = count;
}

void FloatBuffer::zero() {
    if (size_) std::memset(data_, 0, size_ * sizeof(float));
}

}  // namespace cnx
