// Command-line flags of one subcommand: `--name value` or `--name=value`, boolean `--name`, and
// positional arguments. Each option is declared where it is read (with its help line); finish()
// then rejects anything undeclared with one clear line.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnx {

class Args {
public:
    Args(const std::string& command, const std::vector<std::string>& argv);

    std::string str(const std::string& name, const std::string& def, const std::string& help);
    int64_t integer(const std::string& name, int64_t def, const std::string& help, int64_t lo, int64_t hi);
    double number(const std::string& name, double def, const std::string& help, double lo, double hi);
    bool flag(const std::string& name, const std::string& help);
    bool given(const std::string& name) const;
    // Positional arguments (after all declarations).
    std::vector<std::string> positional() const;

    // True when --help was given: print usage() and exit 0.
    bool help() const { return help_; }
    std::string usage(const std::string& synopsis) const;
    // Throws cnx::Error for an unknown flag, a missing value, or positional arguments not allowed.
    void finish(bool allow_positional = false);

private:
    struct Opt {
        std::string name, value;
        bool has_value = false;
        bool used = false;
        size_t value_pos = 0;  // index in argv of the value word
    };
    std::string command_;
    std::vector<Opt> given_;
    std::vector<std::pair<size_t, std::string>> positional_;  // (index in argv, word)
    std::vector<std::string> help_lines_;
    bool help_ = false;

    const Opt* lookup(const std::string& name, bool is_flag);
    void declare(const std::string& name, const std::string& def, const std::string& help);
};

}  // namespace cnx
