// The progress line on stderr: redrawn in place on a terminal, plain lines (at most every few
// seconds) otherwise, so logs stay readable.
#pragma once

#include <string>

namespace cnx {

class Progress {
public:
    Progress();
    // Shows `line`; `force` prints it even when a plain-line log printed recently.
    void update(const std::string& line, bool force = false);
    // Ends the in-place line (before printing something else).
    void done();
    bool tty() const { return tty_; }

private:
    bool tty_ = false;
    bool open_ = false;
    double last_ = -1e9;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace cnx
