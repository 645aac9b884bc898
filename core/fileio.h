// Whole-file reads and atomic writes.
#pragma once

#include <string>

namespace cnx {

// Reads a whole file; throws cnx::Error("<path>: <reason>") when it cannot.
std::string read_file(const std::string& path);

// Writes `data` to `path` atomically: a new temporary file in the same folder (unnamed until it is
// whole where the file system allows, else "<path>.tmp.<suffix>" created exclusively; a planted file
// or symlink is never written through), fsync, rename over the target, fsync of the folder. On any
// failure the previous file at `path` is left untouched and the temporary file removed.
// `unnamed` false: always a named temporary file (what file systems without O_TMPFILE get).
void write_file_atomic(const std::string& path, const std::string& data, bool unnamed = true);

// Appends one line (a '\n' is added) to a file, creating it if needed; refuses to follow a symlink
// at `path`, and a failed or short write (a full disk, a file-size limit) is an error.
void append_line(const std::string& path, const std::string& line);

// Removes the temporary files ("<name>.tmp.<suffix>") that a process killed while saving left in
// `dir`; call it only while holding the folder's FolderLock. Returns how many it removed.
int remove_stale_temp_files(const std::string& dir);

// An exclusive lock on a folder (flock on DIR/.lock) for as long as the object lives, so that two
// runs never write into one folder. The kernel releases it when the process dies, however it dies.
class FolderLock {
public:
    // Throws cnx::Error naming the folder (and the holder's pid) when another process holds it.
    explicit FolderLock(const std::string& dir);
    ~FolderLock();
    FolderLock(const FolderLock&) = delete;
    FolderLock& operator=(const FolderLock&) = delete;

private:
    int fd_ = -1;
};

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
// Creates a folder and its parents (like mkdir -p); throws on failure.
void make_dirs(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);

}  // namespace cnx
