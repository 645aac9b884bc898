// Wall-clock time in seconds from a monotonic clock.
#pragma once

#include <chrono>

namespace cnx {

inline double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace cnx
