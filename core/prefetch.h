// Software prefetch the compiler keeps. GCC 12 deems a function that holds only __builtin_prefetch
// calls pure and deletes the calls to it (the LayerNorm prefetch vanished that way, and so did the
// depthwise row prefetch once it moved into a shared helper); a volatile asm statement stays.
// Reads and writes alike use prefetcht0, which is also what __builtin_prefetch emits for writes
// without -mprfchw.
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
