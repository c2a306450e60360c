// Files appear whole or not at all: written to a temporary name in the same folder, flushed, then renamed.
// Temporary names are unique per process and call ("NAME.tmp.PID.N"), so concurrent writers never share one;
// a writer killed before its rename leaves one behind, which the next claim of the folder removes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace tms::io {

// A fresh temporary name beside `path`: "PATH.tmp.PID.N".
std::filesystem::path temporary_path(const std::filesystem::path& path);

// True for names temporary_path makes (of any process).
bool is_temporary_name(const std::string& file_name);

// Writes `bytes` to a temporary name and flushes it to disk; returns that name (rename it with commit_file).
// Throws run_error naming `path` when the file cannot be written.
std::filesystem::path write_temporary(const std::filesystem::path& path, std::string_view bytes);

// Flushes a temporary file written by another library (libzip) to disk.
void sync_file(const std::filesystem::path& file);

// Renames a temporary file onto `path` (atomic on one filesystem). Throws run_error.
void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path);

// write_temporary, then commit_file.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Size and CRC-32 (zlib's) of a file's bytes: metrics.json records them for the files beside it, so a reader
// knows a weights file is whole and is the one written with that metrics.json.
struct file_digest {
  std::int64_t bytes = 0;
  std::uint32_t crc32 = 0;
};
file_digest digest_bytes(std::string_view bytes);
// Throws usage_error naming `field` when the file cannot be read.
file_digest digest_file(const std::filesystem::path& file, std::string_view field);

// Creates `dir` (and parents) and checks that a file can be created in it. Throws usage_error naming `field`.
void ensure_writable_dir(const std::filesystem::path& dir, std::string_view field);

}  // namespace tms::io
