// safetensors: an 8-byte little-endian header length N, N bytes of JSON, then raw little-endian
// tensor data. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) and may hold "__metadata__": {string: string}.
//
// The reader validates everything before use and throws cnx::Error naming the file and the field:
// bad header length, bad JSON, unknown dtype, shapes whose size overflows, offsets out of range or
// overlapping, shape/size mismatch, more tensors than input_limits() allows. Parsing and lookups
// take O(n log n) in the number of tensors. Floating tensors (F32, F16, BF16, F64) are read as fp32.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnx {

struct SafetensorsEntry {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte offsets into the data section
    int64_t count = 0;            // elements (the product of the shape, checked for overflow)

    int64_t numel() const { return count; }
    std::string shape_string() const;  // "(40, 1, 7, 7)"
};

class SafetensorsReader {
public:
    explicit SafetensorsReader(const std::string& path);
    // Parses bytes already in memory; `path` is only used in messages.
    SafetensorsReader(std::string bytes, const std::string& path);

    const std::string& path() const { return path_; }
    const std::vector<SafetensorsEntry>& entries() const { return entries_; }
    const SafetensorsEntry* find(const std::string& name) const;
    bool has(const std::string& name) const { return find(name) != nullptr; }

    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
    // Metadata value, or `fallback` when the key is absent.
    std::string meta(const std::string& key, const std::string& fallback = "") const;
    bool has_meta(const std::string& key) const;

    // The tensor converted to fp32 (throws if absent or not a floating dtype).
    std::vector<float> read_f32(const std::string& name) const;

private:
    std::string path_;
    std::string bytes_;
    size_t data_start_ = 0;
    std::vector<SafetensorsEntry> entries_;
    std::vector<size_t> by_name_;  // entries_ indices sorted by name, for find()
    std::vector<std::pair<std::string, std::string>> metadata_;

    void parse();
};

// IEEE half to float, exactly (subnormals, infinities and NaN kept).
float half_to_float(uint16_t h);

class SafetensorsWriter {
public:
    void add(const std::string& name, const std::vector<int64_t>& shape, std::vector<float> data);
    void add(const std::string& name, const std::vector<int64_t>& shape, const float* data);
    void set_metadata(const std::string& key, const std::string& value);
    // The whole file as bytes.
    std::string serialize() const;
    // Atomic write (temporary file + fsync + rename).
    void write(const std::string& path) const;

private:
    struct Item {
        std::string name;
        std::vector<int64_t> shape;
        std::vector<float> data;
    };
    std::vector<Item> items_;
    std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace cnx
