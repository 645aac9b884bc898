#include "tools/progress.h"

#include <cstdio>
#include <unistd.h>

#include "core/check.h"
#include "core/timer.h"

namespace cnx {

Progress::Progress() : tty_(isatty(fileno(stderr)) != 0) {}

void Progress::update(const std::string& line, bool force) {
    if (tty_) {
        std::fprintf(stderr, "\r%s\033[K", line.c_str());
        std::fflush(stderr);
        open_ = true;
        return;
    }
    double t = now_seconds();
    if (!force && t - last_ < 10.0) return;
    last_ = t;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

void Progress::done() {
    if (tty_ && open_) {
        std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }
    open_ = false;
}

std::string format_duration(double s) {
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) return strfmt("%ldh%02ldm", t / 3600, (t / 60) % 60);
    if (t >= 60) return strfmt("%ldm%02lds", t / 60, t % 60);
    return strfmt("%lds", t);
}

}  // namespace cnx
