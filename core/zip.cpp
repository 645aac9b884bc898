#include "core/zip.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace cnx {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;

// Little-endian fields at checked positions of the archive.
struct Cursor {
    const std::string& b;
    const std::string& path;
    uint64_t at;
    void need(uint64_t n) const {
        if (at > b.size() || n > b.size() - at) fail("%s: not a valid zip archive (a record runs past the end)", path.c_str());
    }
    uint64_t le(int n) {
        need((uint64_t)n);
        uint64_t v = 0;
        for (int i = 0; i < n; i++) v |= (uint64_t)(unsigned char)b[(size_t)(at + i)] << (8 * i);
        at += (uint64_t)n;
        return v;
    }
    std::string str(uint64_t n) {
        need(n);
        std::string s = b.substr((size_t)at, (size_t)n);
        at += n;
        return s;
    }
};

bool safe_name(const std::string& name) {
    if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos || name.find('\0') != std::string::npos)
        return false;
    size_t start = 0;
    while (start <= name.size()) {
        size_t end = name.find('/', start);
        if (end == std::string::npos) end = name.size();
        if (name.compare(start, end - start, "..") == 0 && end - start == 2) return false;
        start = end + 1;
    }
    return true;
}

}  // namespace

bool looks_like_zip(const std::string& bytes) { return bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0; }

ZipReader::ZipReader(std::string bytes, const std::string& path) : bytes_(std::move(bytes)), path_(path) { parse(); }

void ZipReader::parse() {
    const char* p = path_.c_str();
    if (bytes_.size() < 22) fail("%s: not a zip archive (too short)", p);
    // The end record sits in the last 22 + 65535 bytes (its comment is at most 65535 long).
    uint64_t end = UINT64_MAX;
    const uint64_t lowest = bytes_.size() > 22 + 65535 ? bytes_.size() - 22 - 65535 : 0;
    for (uint64_t at = bytes_.size() - 22 + 1; at-- > lowest;)
        if (Cursor{bytes_, path_, at}.le(4) == kEndSig) {
            end = at;
            break;
        }
    if (end == UINT64_MAX) fail("%s: not a zip archive (no end-of-directory record; truncated?)", p);
    Cursor c{bytes_, path_, end + 10};
    uint64_t count = c.le(2);
    uint64_t dir_size = c.le(4), dir_offset = c.le(4);
    if (count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {  // zip64
        if (end < 20) fail("%s: zip64 archive without its locator", p);
        Cursor loc{bytes_, path_, end - 20};
        if (loc.le(4) != kEnd64LocatorSig) fail("%s: zip64 archive without its locator", p);
        loc.le(4);
        Cursor e64{bytes_, path_, loc.le(8)};
        if (e64.le(4) != kEnd64Sig) fail("%s: bad zip64 end-of-directory record", p);
        e64.at += 8 + 2 + 2 + 4 + 4 + 8;
        count = e64.le(8);
        dir_size = e64.le(8);
        dir_offset = e64.le(8);
    }
    if (dir_offset > bytes_.size() || dir_size > bytes_.size() - dir_offset)
        fail("%s: the zip directory lies outside the file (truncated?)", p);
    if (count > dir_size / 46) fail("%s: the zip directory lists more entries than it can hold", p);
    Cursor d{bytes_, path_, dir_offset};
    for (uint64_t i = 0; i < count; i++) {
        if (d.le(4) != kCentralSig) fail("%s: bad zip directory entry %llu", p, (unsigned long long)i);
        d.at += 2 + 2;
        const uint64_t flags = d.le(2), method = d.le(2);
        d.at += 4;
        ZipEntry e;
        e.crc = (uint32_t)d.le(4);
        uint64_t csize = d.le(4), usize = d.le(4);
        const uint64_t name_len = d.le(2), extra_len = d.le(2), comment_len = d.le(2);
        d.at += 2 + 2 + 4;
        uint64_t local = d.le(4);
        e.name = d.str(name_len);
        Cursor x{bytes_, path_, d.at};
        const uint64_t extra_end = d.at + extra_len;
        d.at = extra_end + comment_len;
        d.need(0);
        while (x.at + 4 <= extra_end) {  // the zip64 extra field: the 64-bit values, in this order
            const uint64_t id = x.le(2), len = x.le(2), next = x.at + len;
            if (next > extra_end) fail("%s: %s: bad zip extra field", p, e.name.c_str());
            if (id == 1) {
                if (usize == 0xffffffff) usize = x.le(8);
                if (csize == 0xffffffff) csize = x.le(8);
                if (local == 0xffffffff) local = x.le(8);
                if (x.at > next) fail("%s: %s: bad zip64 extra field", p, e.name.c_str());
            }
            x.at = next;
        }
        if (!safe_name(e.name)) fail("%s: refuses the zip entry name '%s' (absolute, or with '..')", p, e.name.c_str());
        if (method != 0 || csize != usize || (flags & 1))
            fail("%s: %s is compressed or encrypted (torch.save stores entries uncompressed)", p, e.name.c_str());
        Cursor l{bytes_, path_, local};
        if (l.le(4) != kLocalSig) fail("%s: %s: bad local header", p, e.name.c_str());
        l.at += 22;
        const uint64_t lname = l.le(2), lextra = l.le(2);
        if (l.str(lname) != e.name) fail("%s: %s: local header names another entry", p, e.name.c_str());
        l.at += lextra;
        l.need(usize);
        e.offset = l.at;
        e.size = usize;
        if (!index_.emplace(e.name, entries_.size()).second) fail("%s: the zip entry %s appears twice", p, e.name.c_str());
        entries_.push_back(e);
    }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

std::string ZipReader::read(const std::string& name) const {
    const ZipEntry* e = find(name);
    if (!e) fail("%s: no entry %s in the archive", path_.c_str(), name.c_str());
    std::string data = bytes_.substr((size_t)e->offset, (size_t)e->size);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t at = 0; at < data.size(); at += 1u << 30) {
        const size_t n = std::min(data.size() - at, (size_t)1 << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + at), (uInt)n);
    }
    if ((uint32_t)crc != e->crc) fail("%s: %s is corrupt (CRC-32 mismatch)", path_.c_str(), e->name.c_str());
    return data;
}

}  // namespace cnx
