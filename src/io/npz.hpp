// NumPy .npz archives (a zip of .npy files, format 1.0), written with libzip so numpy.load reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tms::io {

struct npy_array {
  std::string name;                 // the key in numpy.load(...)
  std::vector<std::int64_t> shape;  // C order
  std::string descr;                // '<f4', '<f8' or '<i8'
  std::string bytes;                // little-endian data, product(shape) items
};

npy_array npy_f32(std::string name, std::vector<std::int64_t> shape, const std::vector<float>& data);
npy_array npy_f64(std::string name, std::vector<std::int64_t> shape, const std::vector<double>& data);
npy_array npy_i64(std::string name, std::vector<std::int64_t> shape, const std::vector<std::int64_t>& data);

// The .npy serialisation of one array (header padded to a multiple of 64 bytes).
std::string npy_encode(const npy_array& array);

// Writes the archive atomically (temporary name, then rename). Throws run_error naming the path.
void write_npz(const std::filesystem::path& path, const std::vector<npy_array>& arrays);

}  // namespace tms::io
