#include "core/torch_file.h"

#include <cstring>
#include <map>

#include "core/check.h"
#include "core/fileio.h"
#include "core/limits.h"
#include "core/pickle.h"
#include "core/safetensors.h"
#include "core/zip.h"

namespace cnx {

namespace {

int element_bytes(const std::string& dtype) {
    if (dtype == "F64" || dtype == "I64") return 8;
    if (dtype == "F32" || dtype == "I32") return 4;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16") return 2;
    return 1;
}

using Widen = float (*)(const char*);

float from_f32(const char* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
}
float from_f64(const char* p) {
    double d;
    std::memcpy(&d, p, 8);
    return (float)d;
}
float from_f16(const char* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return half_to_float(h);
}
float from_bf16(const char* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

Widen widen_for(const std::string& dtype) {
    return dtype == "F32" ? from_f32 : dtype == "F64" ? from_f64 : dtype == "F16" ? from_f16 : from_bf16;
}

bool floating(const std::string& dtype) { return dtype == "F32" || dtype == "F64" || dtype == "F16" || dtype == "BF16"; }

class TensorReader {
public:
    TensorReader(const ZipReader& zip, const std::string& prefix) : zip_(zip), prefix_(prefix) {}

    NamedTensor read(const std::string& name, const PyValue& t) {
        const PyValue& s = *t.storage;
        const std::string& bytes = storage(s);
        const char* where = zip_.path().c_str();
        NamedTensor out;
        out.name = name;
        out.shape = t.size;
        int64_t numel = 1, last = t.offset;
        for (size_t d = 0; d < t.size.size(); d++) {
            if (t.size[d] < 0 || t.stride[d] < 0) fail("%s: %s has a negative size or stride", where, name.c_str());
            int64_t reach = 0;
            if (!checked_mul(numel, t.size[d], &numel) || (t.size[d] > 0 && !checked_mul(t.size[d] - 1, t.stride[d], &reach)))
                fail("%s: %s has a size that overflows", where, name.c_str());
            last += reach;
        }
        if (t.offset < 0 || (numel > 0 && last >= s.i))
            fail("%s: %s reads past its storage (%lld elements)", where, name.c_str(), (long long)s.i);
        if (numel > s.i)  // a broadcast view (stride 0): never in a state_dict, and a way to ask for any size
            fail("%s: %s views more elements than its storage holds", where, name.c_str());
        const int eb = element_bytes(s.dtype);
        const Widen widen = widen_for(s.dtype);
        out.data.resize((size_t)numel);
        std::vector<int64_t> idx(t.size.size(), 0);
        for (int64_t n = 0; n < numel; n++) {
            int64_t e = t.offset;
            for (size_t d = 0; d < idx.size(); d++) e += idx[d] * t.stride[d];
            out.data[(size_t)n] = widen(bytes.data() + e * eb);
            for (size_t d = idx.size(); d-- > 0;) {  // next index, last axis fastest
                if (++idx[d] < t.size[d]) break;
                idx[d] = 0;
            }
        }
        return out;
    }

private:
    const ZipReader& zip_;
    std::string prefix_;
    std::map<std::string, std::string> storages_;

    const std::string& storage(const PyValue& s) {
        auto it = storages_.find(s.s);
        if (it != storages_.end()) return it->second;
        std::string bytes = zip_.read(prefix_ + "data/" + s.s);
        int64_t want = 0;
        if (!checked_mul(s.i, element_bytes(s.dtype), &want) || (int64_t)bytes.size() != want)
            fail("%s: storage %s holds %zu bytes, not the %lld its %lld %s elements need", zip_.path().c_str(),
                 s.s.c_str(), bytes.size(), (long long)want, (long long)s.i, s.dtype.c_str());
        return storages_.emplace(s.s, std::move(bytes)).first->second;
    }
};

}  // namespace

// PROTO 2, LONG1 of 10 bytes: the legacy format's magic number 0x1950a86a20f9469cfc6c.
static const char kLegacyMagic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

static bool legacy_torch_file(const std::string& bytes) {
    return bytes.compare(0, sizeof kLegacyMagic - 1, kLegacyMagic, sizeof kLegacyMagic - 1) == 0;
}

bool looks_like_torch_file(const std::string& bytes) { return looks_like_zip(bytes) || legacy_torch_file(bytes); }

TorchStateDict read_torch_state_dict(const std::string& path) { return read_torch_state_dict(read_file(path), path); }

TorchStateDict read_torch_state_dict(std::string bytes, const std::string& path) {
    if (legacy_torch_file(bytes))
        fail("%s: a torch.save file in the legacy format (before PyTorch 1.6), which is not read: re-save it with "
             "torch >= 1.6 (the zip format) or convert it to safetensors", path.c_str());
    if (!looks_like_zip(bytes))
        fail("%s: not a PyTorch zip checkpoint (files from torch.save before PyTorch 1.6 are not read: re-save "
             "them with a newer torch, or convert them to safetensors)", path.c_str());
    const ZipReader zip(std::move(bytes), path);
    std::string prefix;
    for (const ZipEntry& e : zip.entries()) {
        const size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            if (!prefix.empty()) fail("%s: holds more than one data.pkl", path.c_str());
            prefix = e.name.substr(0, slash + 1);
        }
    }
    if (prefix.empty()) fail("%s: a zip archive without data.pkl (not written by torch.save)", path.c_str());
    const std::shared_ptr<const PyValue> root = unpickle(zip.read(prefix + "data.pkl"), path);
    TorchStateDict sd;
    const PyValue* dict = root.get();
    for (const char* key : {"model", "state_dict", "model_ema", "state_dict_ema"}) {
        const PyValue* v = root->get(key);
        if (v && v->kind == PyValue::Kind::Dict) {
            dict = v;
            sd.source = key;
            break;
        }
    }
    if (dict->kind != PyValue::Kind::Dict) fail("%s: holds no dict of tensors", path.c_str());
    TensorReader reader(zip, prefix);
    for (size_t k = 0; k + 1 < dict->items.size(); k += 2) {
        const PyValue& key = *dict->items[k];
        const PyValue& v = *dict->items[k + 1];
        if (key.kind != PyValue::Kind::Str || v.kind != PyValue::Kind::Tensor || !floating(v.storage->dtype)) continue;
        sd.tensors.push_back(reader.read(key.s, v));
    }
    if (sd.tensors.empty())
        fail("%s: %s holds no floating-point tensors", path.c_str(), sd.source.empty() ? "the file" : ("'" + sd.source + "'").c_str());
    return sd;
}

}  // namespace cnx
