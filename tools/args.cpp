#include "tools/args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/check.h"

namespace cnx {

Args::Args(const std::string& command, const std::vector<std::string>& argv) : command_(command) {
    for (size_t i = 0; i < argv.size(); i++) {
        const std::string& a = argv[i];
        if (a == "--help" || a == "-h") {
            help_ = true;
            continue;
        }
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            Opt o;
            size_t eq = a.find('=');
            if (eq != std::string::npos) {
                o.name = a.substr(2, eq - 2);
                o.value = a.substr(eq + 1);
                o.has_value = true;
            } else {
                o.name = a.substr(2);
                if (i + 1 < argv.size() && (argv[i + 1].compare(0, 2, "--") != 0 || argv[i + 1] == "--")) {
                    // A value follows unless it is another flag; booleans are fixed up in flag().
                    o.value = argv[i + 1];
                    o.has_value = true;
                    o.value_pos = i + 1;
                    i++;
                }
            }
            given_.push_back(o);
        } else {
            positional_.emplace_back(i, a);
        }
    }
}

void Args::declare(const std::string& name, const std::string& def, const std::string& help) {
    std::string line = "  --" + name;
    if (!def.empty()) line += " (" + def + ")";
    while (line.size() < 34) line += ' ';
    help_lines_.push_back(line + " " + help);
}

const Args::Opt* Args::lookup(const std::string& name, bool is_flag) {
    const Opt* found = nullptr;
    for (size_t i = 0; i < given_.size(); i++) {
        Opt& o = given_[i];
        if (o.name != name) continue;
        o.used = true;
        if (is_flag && o.has_value && o.value_pos != 0) {
            // `--flag positional`: give the swallowed word back as a positional argument.
            bool boolean_word = o.value == "true" || o.value == "false" || o.value == "1" || o.value == "0";
            if (!boolean_word) {
                positional_.emplace_back(o.value_pos, o.value);
                std::sort(positional_.begin(), positional_.end());
                o.has_value = false;
            }
        }
        found = &o;
    }
    return found;
}

std::string Args::str(const std::string& name, const std::string& def, const std::string& help) {
    declare(name, def, help);
    const Opt* o = lookup(name, false);
    if (!o) return def;
    if (!o->has_value) fail("%s: --%s needs a value", command_.c_str(), name.c_str());
    return o->value;
}

int64_t Args::integer(const std::string& name, int64_t def, const std::string& help, int64_t lo, int64_t hi) {
    declare(name, std::to_string(def), help);
    const Opt* o = lookup(name, false);
    if (!o) return def;
    if (!o->has_value) fail("%s: --%s needs a value", command_.c_str(), name.c_str());
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(o->value.c_str(), &end, 10);
    if (errno || end == o->value.c_str() || *end) fail("%s: --%s expects an integer, got '%s'", command_.c_str(), name.c_str(), o->value.c_str());
    if (v < lo || v > hi) fail("%s: --%s %lld is out of range [%lld, %lld]", command_.c_str(), name.c_str(), v, (long long)lo, (long long)hi);
    return v;
}

double Args::number(const std::string& name, double def, const std::string& help, double lo, double hi) {
    declare(name, strfmt("%g", def), help);
    const Opt* o = lookup(name, false);
    if (!o) return def;
    if (!o->has_value) fail("%s: --%s needs a value", command_.c_str(), name.c_str());
    char* end = nullptr;
    double v = std::strtod(o->value.c_str(), &end);
    if (end == o->value.c_str() || *end || !std::isfinite(v))
        fail("%s: --%s expects a number, got '%s'", command_.c_str(), name.c_str(), o->value.c_str());
    if (v < lo || v > hi) fail("%s: --%s %g is out of range [%g, %g]", command_.c_str(), name.c_str(), v, lo, hi);
    return v;
}

bool Args::flag(const std::string& name, const std::string& help) {
    declare(name, "", help);
    const Opt* o = lookup(name, true);
    if (!o) return false;
    if (!o->has_value) return true;
    if (o->value == "true" || o->value == "1") return true;
    if (o->value == "false" || o->value == "0") return false;
    fail("%s: --%s takes no value (got '%s')", command_.c_str(), name.c_str(), o->value.c_str());
}

bool Args::given(const std::string& name) const {
    for (const Opt& o : given_)
        if (o.name == name) return true;
    return false;
}

std::string Args::usage(const std::string& synopsis) const {
    std::string s = "usage: convnextv2 " + command_ + " " + synopsis + "\n\noptions:\n";
    for (const std::string& l : help_lines_) s += l + "\n";
    return s;
}

std::vector<std::string> Args::positional() const {
    std::vector<std::string> out;
    for (const auto& p : positional_) out.push_back(p.second);
    return out;
}

void Args::finish(bool allow_positional) {
    for (const Opt& o : given_)
        if (!o.used) fail("%s: unknown flag --%s (see convnextv2 %s --help)", command_.c_str(), o.name.c_str(), command_.c_str());
    if (!allow_positional && !positional_.empty())
        fail("%s: unexpected argument '%s' (see convnextv2 %s --help)", command_.c_str(), positional_[0].second.c_str(), command_.c_str());
}

}  // namespace cnx
