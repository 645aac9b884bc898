#include "core/fileio.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check.h"

namespace cnx {

std::string read_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("%s: cannot open (%s)", path.c_str(), std::strerror(errno));
    std::string data;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    bool err = std::ferror(f);
    std::fclose(f);
    if (err) fail("%s: read error", path.c_str());
    return data;
}

static std::string dir_of(const std::string& path) {
    size_t p = path.find_last_of('/');
    if (p == std::string::npos) return ".";
    if (p == 0) return "/";
    return path.substr(0, p);
}

void write_file_atomic(const std::string& path, const std::string& data) {
    std::string tmp = path + ".tmp." + std::to_string((long)getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("%s: cannot create (%s)", tmp.c_str(), std::strerror(errno));
    size_t off = 0;
    while (off < data.size()) {
        ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            fail("%s: write failed (%s); the previous file is unchanged", path.c_str(), std::strerror(e));
        }
        off += (size_t)w;
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        fail("%s: sync failed (%s); the previous file is unchanged", path.c_str(), std::strerror(e));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        fail("%s: rename failed (%s); the previous file is unchanged", path.c_str(), std::strerror(e));
    }
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void append_line(const std::string& path, const std::string& line) {
    FILE* f = std::fopen(path.c_str(), "ab");
    if (!f) fail("%s: cannot open for appending (%s)", path.c_str(), std::strerror(errno));
    std::fwrite(line.data(), 1, line.size(), f);
    std::fputc('\n', f);
    std::fclose(f);
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void make_dirs(const std::string& path) {
    if (path.empty() || is_directory(path)) return;
    std::string parent = dir_of(path);
    if (parent != path && parent != "." && parent != "/") make_dirs(parent);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        fail("%s: cannot create folder (%s)", path.c_str(), std::strerror(errno));
}

std::string path_join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (a.back() == '/') return a + b;
    return a + "/" + b;
}

}  // namespace cnx
