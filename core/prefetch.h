// Software prefetch the compiler keeps: a volatile asm statement, since a compiler may delete the calls
// to a function that holds only __builtin_prefetch (it deems it pure). Reads and writes alike use
// prefetcht0, what __builtin_prefetch emits for writes without -mprfchw.
#pragma once

#include <cstdint>

namespace cnx {

inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*(const char*)p));
#else
    __builtin_prefetch(p);
#endif
}

// Every 64-byte line of [p, p + bytes).
inline void prefetch_bytes(const void* p, int64_t bytes) {
    const char* b = (const char*)p;
    for (int64_t i = 0; i < bytes; i += 64) prefetch_line(b + i);
}

}  // namespace cnx
