// The archives torch.save writes (the zip format of PyTorch >= 1.6): entries stored uncompressed,
// zip64 when large. Everything is checked before use: the end-of-directory records, each entry's
// name (no absolute paths, no ".." components), method (stored only), sizes, offsets inside the
// file, local headers matching the directory, and the CRC-32 of every entry read. Errors name the
// file and the entry.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cnx {

struct ZipEntry {
    std::string name;
    uint64_t offset = 0, size = 0;  // of the data within the archive
    uint32_t crc = 0;
};

class ZipReader {
public:
    // bytes: the whole archive; path only names it in messages.
    ZipReader(std::string bytes, const std::string& path);
    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;
    // The entry's bytes, its CRC-32 checked (throws cnx::Error when absent or corrupt).
    std::string read(const std::string& name) const;
    const std::string& path() const { return path_; }

private:
    std::string bytes_, path_;
    std::vector<ZipEntry> entries_;
    std::map<std::string, size_t> index_;  // name -> entries_ index
    void parse();
};

// True when the bytes start like a zip archive.
bool looks_like_zip(const std::string& bytes);

}  // namespace cnx
