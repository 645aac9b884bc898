// Whole-file reads and atomic writes.
#pragma once

#include <string>

namespace cnx {

// Reads a whole file; throws cnx::Error("<path>: <reason>") when it cannot.
std::string read_file(const std::string& path);

// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename over the
// target, fsync of the folder. On any failure the previous file at `path` is left untouched.
void write_file_atomic(const std::string& path, const std::string& data);

// Appends one line (a '\n' is added) to a file, creating it if needed.
void append_line(const std::string& path, const std::string& line);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
// Creates a folder and its parents (like mkdir -p); throws on failure.
void make_dirs(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);

}  // namespace cnx
