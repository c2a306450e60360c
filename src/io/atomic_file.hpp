// Files appear whole or not at all: written to a temporary name in the same folder, flushed, then renamed.
#pragma once

#include <filesystem>
#include <string_view>

namespace tms::io {

// Throws run_error naming the path when the file cannot be written.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Creates `dir` (and parents) and checks that a file can be created in it. Throws usage_error naming `field`.
void ensure_writable_dir(const std::filesystem::path& dir, std::string_view field);

}  // namespace tms::io
