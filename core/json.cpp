#include "core/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/check.h"

namespace cnx {

struct JsonParser {
    const std::string& s;
    const std::string& what;
    size_t max_values;
    size_t i = 0;
    int depth = 0;
    size_t values = 0;

    [[noreturn]] void error(const char* msg) { fail("%s: %s at offset %zu", what.c_str(), msg, i); }

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }

    bool consume(const char* lit) {
        size_t n = 0;
        while (lit[n]) n++;
        if (s.compare(i, n, lit) == 0) {
            i += n;
            return true;
        }
        return false;
    }

    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += (char)cp;
        } else if (cp < 0x800) {
            out += (char)(0xc0 | (cp >> 6));
            out += (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += (char)(0xe0 | (cp >> 12));
            out += (char)(0x80 | ((cp >> 6) & 0x3f));
            out += (char)(0x80 | (cp & 0x3f));
        } else {
            out += (char)(0xf0 | (cp >> 18));
            out += (char)(0x80 | ((cp >> 12) & 0x3f));
            out += (char)(0x80 | ((cp >> 6) & 0x3f));
            out += (char)(0x80 | (cp & 0x3f));
        }
    }

    uint32_t hex4() {
        if (i + 4 > s.size()) error("truncated \\u escape");
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
            else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
            else error("bad \\u escape");
        }
        return v;
    }

    std::string string() {
        if (i >= s.size() || s[i] != '"') error("expected a string");
        i++;
        std::string out;
        for (;;) {
            if (i >= s.size()) error("unterminated string");
            char c = s[i++];
            if (c == '"') break;
            if ((unsigned char)c < 0x20) error("control character in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i >= s.size()) error("unterminated escape");
            char e = s[i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xd800 && cp < 0xdc00 && s.compare(i, 2, "\\u") == 0) {
                        i += 2;
                        uint32_t lo = hex4();
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: error("bad escape");
            }
        }
        return out;
    }

    // Sorting the keys keeps an object of n keys O(n log n); a linear search per key made a
    // 100k-tensor safetensors header take seconds.
    void check_unique_keys(const Json& j) {
        if (j.obj_.size() < 2) return;
        std::vector<const std::string*> keys;
        keys.reserve(j.obj_.size());
        for (const auto& kv : j.obj_) keys.push_back(&kv.first);
        std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
        for (size_t k = 1; k < keys.size(); k++)
            if (*keys[k] == *keys[k - 1]) error("duplicate key");
    }

    Json value() {
        if (++depth > 64) error("nesting too deep");
        if (++values > max_values) error("too many values");
        ws();
        if (i >= s.size()) error("unexpected end");
        Json j;
        char c = s[i];
        if (c == '{') {
            i++;
            j = Json::object();
            ws();
            if (i < s.size() && s[i] == '}') {
                i++;
            } else {
                for (;;) {
                    ws();
                    std::string key = string();
                    ws();
                    if (i >= s.size() || s[i] != ':') error("expected ':'");
                    i++;
                    Json v = value();
                    j.obj_.emplace_back(std::move(key), std::move(v));
                    ws();
                    if (i < s.size() && s[i] == ',') { i++; continue; }
                    if (i < s.size() && s[i] == '}') { i++; break; }
                    error("expected ',' or '}'");
                }
                check_unique_keys(j);
            }
        } else if (c == '[') {
            i++;
            j = Json::array();
            ws();
            if (i < s.size() && s[i] == ']') {
                i++;
            } else {
                for (;;) {
                    j.arr_.push_back(value());
                    ws();
                    if (i < s.size() && s[i] == ',') { i++; continue; }
                    if (i < s.size() && s[i] == ']') { i++; break; }
                    error("expected ',' or ']'");
                }
            }
        } else if (c == '"') {
            j = Json(string());
        } else if (consume("true")) {
            j = Json(true);
        } else if (consume("false")) {
            j = Json(false);
        } else if (consume("null")) {
            j = Json();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            if (s[i] == '-') i++;
            while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' ||
                                    s[i] == 'E' || s[i] == '+' || s[i] == '-'))
                i++;
            std::string num = s.substr(start, i - start);
            char* end = nullptr;
            double v = std::strtod(num.c_str(), &end);
            if (end != num.c_str() + num.size()) error("bad number");
            if (!std::isfinite(v)) error("number out of range");
            j = Json(v);
        } else {
            error("unexpected character");
        }
        depth--;
        return j;
    }
};

Json Json::parse(const std::string& text, const std::string& what, size_t max_values) {
    JsonParser p{text, what, max_values};
    Json j = p.value();
    p.ws();
    if (p.i != text.size()) p.error("trailing characters");
    return j;
}

bool Json::as_integer(int64_t lo, int64_t hi, int64_t* out) const {
    // Range-check as a double first: converting a double outside int64's range is undefined.
    if (type_ != Type::Number || !(num_ >= -0x1p63 && num_ < 0x1p63) || num_ != std::floor(num_)) return false;
    const int64_t v = (int64_t)num_;
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

const Json* Json::find(const std::string& key) const {
    if (type_ != Type::Object) return nullptr;
    for (const auto& kv : obj_)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

Json& Json::push(Json v) {
    CNX_CHECK(type_ == Type::Array, "push on a non-array");
    arr_.push_back(std::move(v));
    return *this;
}

Json& Json::set(const std::string& key, Json v) {
    CNX_CHECK(type_ == Type::Object, "set on a non-object");
    for (auto& kv : obj_) {
        if (kv.first == key) {
            kv.second = std::move(v);
            return *this;
        }
    }
    obj_.emplace_back(key, std::move(v));
    return *this;
}

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += (char)c;
                }
        }
    }
    out += '"';
    return out;
}

void Json::dump_to(std::string& out) const {
    switch (type_) {
        case Type::Null: out += "null"; break;
        case Type::Bool: out += bool_ ? "true" : "false"; break;
        case Type::Number: {
            if (!std::isfinite(num_)) {
                out += "null";  // JSON has no NaN/Inf
            } else if (num_ == std::floor(num_) && std::fabs(num_) < 9.007199254740992e15) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%lld", (long long)num_);
                out += buf;
            } else {
                // Short where that is exact (every float is), else all 17 digits: a double read back
                // must equal the one written (a resumed run compares saved scores with new ones).
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.9g", num_);
                if (std::strtod(buf, nullptr) != num_) std::snprintf(buf, sizeof buf, "%.17g", num_);
                out += buf;
            }
            break;
        }
        case Type::String: out += json_quote(str_); break;
        case Type::Array:
            out += '[';
            for (size_t k = 0; k < arr_.size(); k++) {
                if (k) out += ',';
                arr_[k].dump_to(out);
            }
            out += ']';
            break;
        case Type::Object:
            out += '{';
            for (size_t k = 0; k < obj_.size(); k++) {
                if (k) out += ',';
                out += json_quote(obj_[k].first);
                out += ':';
                obj_[k].second.dump_to(out);
            }
            out += '}';
            break;
    }
}

std::string Json::dump() const {
    std::string out;
    dump_to(out);
    return out;
}

}  // namespace cnx
