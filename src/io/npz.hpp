// NumPy .npz archives (a zip of .npy files, format 1.0), written with libzip so numpy.load reads them.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace tms::io {

struct npy_array {
  std::string name;                 // the key in numpy.load(...)
  std::vector<std::int64_t> shape;  // C order
  std::string descr;                // '<f4', '<f8', '<i8' or '<u8'
  std::string bytes;                // little-endian data, product(shape) items
};

npy_array npy_f32(std::string name, std::vector<std::int64_t> shape, const std::vector<float>& data);
npy_array npy_f64(std::string name, std::vector<std::int64_t> shape, const std::vector<double>& data);
npy_array npy_i64(std::string name, std::vector<std::int64_t> shape, const std::vector<std::int64_t>& data);
npy_array npy_u64(std::string name, std::vector<std::int64_t> shape, const std::vector<std::uint64_t>& data);

// An array's items as T (the caller has checked its descr: sizeof(T) bytes each, little-endian).
template <class T>
std::vector<T> npy_values(const npy_array& a) {
  std::vector<T> out(a.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), out.size() * sizeof(T));
  return out;
}

// The .npy serialisation of one array (header padded to a multiple of 64 bytes).
std::string npy_encode(const npy_array& array);

// Writes the archive under a fresh temporary name beside `path` (atomic_file.hpp), flushed to disk, and
// returns that name for commit_file. Throws run_error naming the path.
std::filesystem::path write_npz_temporary(const std::filesystem::path& path,
                                          const std::vector<npy_array>& arrays);

// Writes the archive atomically (temporary name, then rename). Throws run_error naming the path.
void write_npz(const std::filesystem::path& path, const std::vector<npy_array>& arrays);

// Reads every array of an archive (format 1.0-3.0 headers, little-endian, C order, any of the three descrs
// above or '|u1', '<u8', '<i4'), stored or deflated. Never trusts the file: a truncated or garbled archive,
// a bad header, an entry whose size disagrees with its header or exceeds `max_entry_bytes` is a usage_error
// "FIELD: FILE: what".
std::vector<npy_array> read_npz(const std::filesystem::path& path, std::string_view field,
                                std::int64_t max_entry_bytes);

// The .npy header's fields, parsed strictly (for read_npz and its tests). Throws usage_error naming `field`.
struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};
npy_header parse_npy_header(std::string_view header, std::string_view field);

}  // namespace tms::io
