#include "core/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/check.h"
#include "core/rng.h"

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

// A name no other writer can predict: pid, time and a counter, mixed.
static std::string temp_suffix() {
    static std::atomic<uint64_t> counter{0};
    uint64_t z = mix64((uint64_t)getpid() ^ mix64((uint64_t)std::chrono::steady_clock::now().time_since_epoch().count() +
                                                 counter.fetch_add(1)));
    static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string out;
    for (int i = 0; i < 8; i++, z /= 62) out += kChars[z % 62];
    return out;
}

static constexpr const char* kTempTag = ".tmp.";

static bool write_all(int fd, const char* data, size_t size) {
    size_t off = 0;
    while (off < size) {
        ssize_t w = ::write(fd, data + off, size - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        off += (size_t)w;
    }
    return true;
}

// Gives an unnamed O_TMPFILE file the name `*tmp` (a new "<path>.tmp.<suffix>") through /proc: linkat
// with AT_EMPTY_PATH would need a capability. False where that is not possible.
static bool link_unnamed(int fd, const std::string& path, std::string* tmp) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    for (int attempt = 0; attempt < 16; attempt++) {
        *tmp = path + kTempTag + temp_suffix();
        if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp->c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
        if (errno != EEXIST) return false;
    }
    return false;
}

// Opens the file new contents go to: an unnamed one (O_TMPFILE) when `unnamed` allows and the file
// system has them, so that a process killed while writing leaves nothing behind; else a new
// "<path>.tmp.<suffix>" created exclusively (O_EXCL also refuses a symlink planted at that name).
// *tmp stays empty for an unnamed file.
static int open_temp(const std::string& path, const std::string& dir, bool unnamed, std::string* tmp) {
    int fd = unnamed ? ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644) : -1;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        *tmp = path + kTempTag + temp_suffix();
        fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) fail("%s: cannot create a temporary file beside it (%s)", path.c_str(), std::strerror(errno));
    return fd;
}

void write_file_atomic(const std::string& path, const std::string& data, bool unnamed) {
    const std::string dir = dir_of(path);
    std::string tmp;
    const int fd = open_temp(path, dir, unnamed, &tmp);
    const char* step = nullptr;
    if (!write_all(fd, data.data(), data.size())) step = "write";
    else if (::fsync(fd) != 0) step = "sync";
    int e = errno;
    if (!step && tmp.empty() && !link_unnamed(fd, path, &tmp)) {  // no /proc to name it through
        ::close(fd);
        return write_file_atomic(path, data, false);
    }
    if (::close(fd) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && std::rename(tmp.c_str(), path.c_str()) != 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        if (!tmp.empty()) ::unlink(tmp.c_str());
        fail("%s: %s failed (%s); the previous file is unchanged", path.c_str(), step, std::strerror(e));
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void append_line(const std::string& path, const std::string& line) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) fail("%s: cannot open for appending (%s)", path.c_str(), std::strerror(errno));
    const std::string text = line + "\n";
    bool ok = write_all(fd, text.data(), text.size());
    int e = errno;
    if (::close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) fail("%s: appending a line failed (%s)", path.c_str(), std::strerror(e ? e : EIO));
}

int remove_stale_temp_files(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return 0;
    int removed = 0;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        const size_t tag = name.rfind(kTempTag);
        if (tag == std::string::npos || tag == 0 || tag + std::strlen(kTempTag) == name.size()) continue;
        bool suffix_ok = true;
        for (size_t i = tag + std::strlen(kTempTag); i < name.size(); i++)
            suffix_ok = suffix_ok && std::isalnum((unsigned char)name[i]);
        struct stat st;
        const std::string full = path_join(dir, name);
        // lstat: a symlink is removed itself, never what it points to.
        if (suffix_ok && ::lstat(full.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
            ::unlink(full.c_str()) == 0)
            removed++;
    }
    ::closedir(d);
    return removed;
}

FolderLock::FolderLock(const std::string& dir) {
    const std::string path = path_join(dir, ".lock");
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("%s: cannot open the lock file (%s)", path.c_str(), std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char holder[32] = {0};
        const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
        ::close(fd_);
        fd_ = -1;
        if (e != EWOULDBLOCK) fail("%s: cannot lock (%s)", path.c_str(), std::strerror(e));
        std::string pid(holder, n > 0 ? (size_t)n : 0);
        while (!pid.empty() && !std::isdigit((unsigned char)pid.back())) pid.pop_back();
        fail("%s is in use by another run%s; wait for it to end or choose another --out", dir.c_str(),
             pid.empty() ? "" : (" (pid " + pid + ")").c_str());
    }
    const std::string me = std::to_string((long)getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
}

FolderLock::~FolderLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
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
