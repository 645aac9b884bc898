#include "core/safetensors.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/limits.h"

namespace cnx {

static int dtype_size(const std::string& dt) {
    if (dt == "F64" || dt == "I64" || dt == "U64") return 8;
    if (dt == "F32" || dt == "I32" || dt == "U32") return 4;
    if (dt == "F16" || dt == "BF16" || dt == "I16" || dt == "U16") return 2;
    if (dt == "I8" || dt == "U8" || dt == "BOOL" || dt == "F8_E4M3" || dt == "F8_E5M2") return 1;
    return 0;
}

std::string SafetensorsEntry::shape_string() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path), bytes_(read_file(path)) { parse(); }

SafetensorsReader::SafetensorsReader(std::string bytes, const std::string& path)
    : path_(path), bytes_(std::move(bytes)) {
    parse();
}

// One tensor's header entry, every field checked against the data section of `data_size` bytes.
static SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const Json& v,
                                    uint64_t data_size) {
    const char* p = path.c_str();
    const char* nm = name.c_str();
    if (!v.is_object()) fail("%s: tensor '%s': entry is not an object", p, nm);
    const Json* dt = v.find("dtype");
    const Json* sh = v.find("shape");
    const Json* off = v.find("data_offsets");
    if (!dt || !dt->is_string()) fail("%s: tensor '%s': missing or bad 'dtype'", p, nm);
    if (!sh || !sh->is_array()) fail("%s: tensor '%s': missing or bad 'shape'", p, nm);
    if (!off || !off->is_array() || off->size() != 2) fail("%s: tensor '%s': missing or bad 'data_offsets'", p, nm);
    SafetensorsEntry e;
    e.name = name;
    e.dtype = dt->as_string();
    int esize = dtype_size(e.dtype);
    if (esize == 0) fail("%s: tensor '%s': unknown dtype '%s'", p, nm, e.dtype.c_str());
    e.count = 1;
    for (const Json& d : sh->items()) {
        int64_t dim = 0;
        if (!d.as_integer(0, INT64_MAX, &dim)) fail("%s: tensor '%s': bad shape dimension", p, nm);
        if (!checked_mul(e.count, dim, &e.count) || !checked_mul(e.count, esize, nullptr))
            fail("%s: tensor '%s': shape %s is too large", p, nm, sh->dump().c_str());
        e.shape.push_back(dim);
    }
    int64_t offsets[2];
    for (int k = 0; k < 2; k++)
        if (!(*off)[(size_t)k].as_integer(0, INT64_MAX, &offsets[k])) fail("%s: tensor '%s': bad data_offsets", p, nm);
    e.begin = (uint64_t)offsets[0];
    e.end = (uint64_t)offsets[1];
    if (e.begin > e.end || e.end > data_size)
        fail("%s: tensor '%s': data_offsets [%llu, %llu] out of range (data section has %llu bytes)", p, nm,
             (unsigned long long)e.begin, (unsigned long long)e.end, (unsigned long long)data_size);
    const uint64_t expect = (uint64_t)e.count * (uint64_t)esize;
    if (e.end - e.begin != expect)
        fail("%s: tensor '%s': shape %s of %s needs %llu bytes but data_offsets span %llu", p, nm,
             e.shape_string().c_str(), e.dtype.c_str(), (unsigned long long)expect,
             (unsigned long long)(e.end - e.begin));
    return e;
}

void SafetensorsReader::parse() {
    const char* p = path_.c_str();
    if (bytes_.size() < 8) fail("%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)", p, bytes_.size());
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | (unsigned char)bytes_[(size_t)i];
    if (n > bytes_.size() - 8)
        fail("%s: bad header length %llu (file has %zu bytes after it)", p, (unsigned long long)n, bytes_.size() - 8);
    if (n > (100u << 20)) fail("%s: bad header length %llu (over 100 MB)", p, (unsigned long long)n);
    data_start_ = 8 + (size_t)n;
    uint64_t data_size = bytes_.size() - data_start_;
    // An entry is about a dozen JSON values; the cap keeps a hostile header from filling memory.
    const int64_t max_entries = input_limits().max_safetensors_entries;
    Json h = Json::parse(bytes_.substr(8, (size_t)n), path_ + ": header", (size_t)max_entries * 16 + 4096);
    if (!h.is_object()) fail("%s: header is not a JSON object", p);
    const size_t tensors = h.size() - (h.find("__metadata__") ? 1 : 0);
    if ((int64_t)tensors > max_entries)
        fail("%s: the header lists %zu tensors, more than the limit of %lld", p, tensors, (long long)max_entries);

    for (const auto& kv : h.members()) {
        const std::string& name = kv.first;
        const Json& v = kv.second;
        if (name == "__metadata__") {
            if (!v.is_object()) fail("%s: __metadata__ is not an object", p);
            for (const auto& m : v.members()) {
                if (!m.second.is_string()) fail("%s: __metadata__.%s is not a string", p, m.first.c_str());
                metadata_.emplace_back(m.first, m.second.as_string());
            }
            continue;
        }
        entries_.push_back(parse_entry(path_, name, v, data_size));
    }
    by_name_.resize(entries_.size());
    for (size_t k = 0; k < entries_.size(); k++) by_name_[k] = k;
    std::sort(by_name_.begin(), by_name_.end(), [&](size_t a, size_t b) { return entries_[a].name < entries_[b].name; });
    // Tensors must not overlap.
    std::vector<const SafetensorsEntry*> sorted;
    for (const auto& e : entries_) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
        return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
    });
    for (size_t i = 1; i < sorted.size(); i++) {
        if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->begin != sorted[i]->end)
            fail("%s: tensors '%s' and '%s' overlap", p, sorted[i - 1]->name.c_str(), sorted[i]->name.c_str());
    }
}

const SafetensorsEntry* SafetensorsReader::find(const std::string& name) const {
    auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                               [&](size_t k, const std::string& n) { return entries_[k].name < n; });
    return it != by_name_.end() && entries_[*it].name == name ? &entries_[*it] : nullptr;
}

std::string SafetensorsReader::meta(const std::string& key, const std::string& fallback) const {
    for (const auto& kv : metadata_)
        if (kv.first == key) return kv.second;
    return fallback;
}

bool SafetensorsReader::has_meta(const std::string& key) const {
    for (const auto& kv : metadata_)
        if (kv.first == key) return true;
    return false;
}

float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

std::vector<float> SafetensorsReader::read_f32(const std::string& name) const {
    const SafetensorsEntry* e = find(name);
    if (!e) fail("%s: tensor '%s' not found", path_.c_str(), name.c_str());
    int64_t n = e->numel();
    std::vector<float> out((size_t)n);
    const char* src = bytes_.data() + data_start_ + e->begin;
    if (e->dtype == "F32") {
        std::memcpy(out.data(), src, (size_t)n * 4);
    } else if (e->dtype == "F64") {
        for (int64_t i = 0; i < n; i++) {
            double d;
            std::memcpy(&d, src + i * 8, 8);
            out[(size_t)i] = (float)d;
        }
    } else if (e->dtype == "F16") {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            std::memcpy(&h, src + i * 2, 2);
            out[(size_t)i] = half_to_float(h);
        }
    } else if (e->dtype == "BF16") {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            std::memcpy(&h, src + i * 2, 2);
            uint32_t bits = (uint32_t)h << 16;
            std::memcpy(&out[(size_t)i], &bits, 4);
        }
    } else {
        fail("%s: tensor '%s' has dtype %s, expected a floating type", path_.c_str(), name.c_str(), e->dtype.c_str());
    }
    return out;
}

void SafetensorsWriter::add(const std::string& name, const std::vector<int64_t>& shape, std::vector<float> data) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    CNX_CHECK((int64_t)data.size() == n, "tensor size does not match its shape");
    for (const auto& it : items_) CNX_CHECK(it.name != name, "duplicate tensor name");
    items_.push_back(Item{name, shape, std::move(data)});
}

void SafetensorsWriter::add(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    add(name, shape, std::vector<float>(data, data + n));
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
    for (auto& kv : metadata_) {
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    }
    metadata_.emplace_back(key, value);
}

std::string SafetensorsWriter::serialize() const {
    Json h = Json::object();
    if (!metadata_.empty()) {
        Json m = Json::object();
        for (const auto& kv : metadata_) m.set(kv.first, kv.second);
        h.set("__metadata__", m);
    }
    uint64_t off = 0;
    for (const auto& it : items_) {
        Json e = Json::object();
        e.set("dtype", "F32");
        Json shape = Json::array();
        for (int64_t d : it.shape) shape.push(d);
        e.set("shape", shape);
        uint64_t nbytes = it.data.size() * 4;
        Json offs = Json::array();
        offs.push((int64_t)off).push((int64_t)(off + nbytes));
        e.set("data_offsets", offs);
        h.set(it.name, e);
        off += nbytes;
    }
    std::string header = h.dump();
    while (header.size() % 8) header += ' ';  // keeps the data section 8-byte aligned
    std::string out;
    out.reserve(8 + header.size() + off);
    uint64_t n = header.size();
    for (int i = 0; i < 8; i++) out += (char)((n >> (8 * i)) & 0xff);
    out += header;
    for (const auto& it : items_) out.append(reinterpret_cast<const char*>(it.data.data()), it.data.size() * 4);
    return out;
}

void SafetensorsWriter::write(const std::string& path) const { write_file_atomic(path, serialize()); }

}  // namespace cnx
