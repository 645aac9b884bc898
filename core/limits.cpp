#include "core/limits.h"

#include <unistd.h>

namespace cnx {

InputLimits& input_limits() {
    static InputLimits limits;
    return limits;
}

uint64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

uint64_t dataset_byte_limit() {
    const uint64_t set = input_limits().max_dataset_bytes;
    if (set) return set;
    const uint64_t phys = physical_memory_bytes();
    return phys ? phys : UINT64_MAX;
}

bool checked_mul(int64_t a, int64_t b, int64_t* out) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return false;
    if (out) *out = r;
    return true;
}

}  // namespace cnx
