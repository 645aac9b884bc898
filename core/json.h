// A small JSON value with a strict parser and a compact writer. Used for the safetensors header,
// checkpoint metadata, metrics.jsonl and --json outputs. Numbers are doubles (exact for integers up
// to 2^53, enough for byte offsets); object keys keep their insertion order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnx {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };

    Json() = default;
    Json(std::nullptr_t) {}
    Json(bool b) : type_(Type::Bool), bool_(b) {}
    Json(int v) : type_(Type::Number), num_(v) {}
    Json(int64_t v) : type_(Type::Number), num_((double)v) {}
    Json(size_t v) : type_(Type::Number), num_((double)v) {}
    Json(double v) : type_(Type::Number), num_(v) {}
    Json(float v) : type_(Type::Number), num_(v) {}
    Json(const char* s) : type_(Type::String), str_(s) {}
    Json(std::string s) : type_(Type::String), str_(std::move(s)) {}

    static Json array() { Json j; j.type_ = Type::Array; return j; }
    static Json object() { Json j; j.type_ = Type::Object; return j; }

    // Parses `text`; throws cnx::Error("<what>: <reason> at offset N") on malformed input, numbers
    // beyond a double's range, duplicate keys, nesting over 64 levels, or more than `max_values`
    // values (each takes ~100 bytes in memory, so the cap bounds what a hostile text can allocate).
    static Json parse(const std::string& text, const std::string& what = "json", size_t max_values = 1 << 20);

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_number() const { return type_ == Type::Number; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }

    bool as_bool() const { return bool_; }
    double as_number() const { return num_; }
    // The number as an integer in [lo, hi]; false when this is not such a number (a fraction, out of
    // range or not a number at all), so no caller converts an arbitrary double.
    bool as_integer(int64_t lo, int64_t hi, int64_t* out) const;
    const std::string& as_string() const { return str_; }
    const std::vector<Json>& items() const { return arr_; }
    const std::vector<std::pair<std::string, Json>>& members() const { return obj_; }

    size_t size() const { return type_ == Type::Array ? arr_.size() : obj_.size(); }
    const Json& operator[](size_t i) const { return arr_[i]; }
    // Object lookup; nullptr when absent (or when this is not an object).
    const Json* find(const std::string& key) const;

    Json& push(Json v);                        // array append; returns *this
    Json& set(const std::string& key, Json v);  // object insert or replace; returns *this

    std::string dump() const;

private:
    Type type_ = Type::Null;
    bool bool_ = false;
    double num_ = 0;
    std::string str_;
    std::vector<Json> arr_;
    std::vector<std::pair<std::string, Json>> obj_;

    void dump_to(std::string& out) const;
    friend struct JsonParser;
};

// JSON-escapes a string (with the quotes).
std::string json_quote(const std::string& s);

}  // namespace cnx
