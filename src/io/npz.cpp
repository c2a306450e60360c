#include "io/npz.hpp"

#include <zip.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/errors.hpp"

namespace tms::io {
namespace {

template <class T>
npy_array make(std::string name, std::vector<std::int64_t> shape, const char* descr,
               const std::vector<T>& data) {
  static_assert(std::endian::native == std::endian::little, "npz writer assumes a little-endian machine");
  npy_array a{std::move(name), std::move(shape), descr, {}};
  a.bytes.assign(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T));
  return a;
}

}  // namespace

npy_array npy_f32(std::string name, std::vector<std::int64_t> shape, const std::vector<float>& data) {
  return make(std::move(name), std::move(shape), "<f4", data);
}
npy_array npy_f64(std::string name, std::vector<std::int64_t> shape, const std::vector<double>& data) {
  return make(std::move(name), std::move(shape), "<f8", data);
}
npy_array npy_i64(std::string name, std::vector<std::int64_t> shape, const std::vector<std::int64_t>& data) {
  return make(std::move(name), std::move(shape), "<i8", data);
}

std::string npy_encode(const npy_array& a) {
  // Python tuple syntax: (), (7,), (7, 20, 5)
  std::string shape = "(";
  for (std::size_t d = 0; d < a.shape.size(); ++d) shape += (d ? ", " : "") + std::to_string(a.shape[d]);
  shape += a.shape.size() == 1 ? ",)" : ")";
  std::string header = "{'descr': '" + a.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out += a.bytes;
  return out;
}

void write_npz(const std::filesystem::path& path, const std::vector<npy_array>& arrays) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  auto fail = [&](const std::string& why) -> run_error {
    std::remove(tmp.c_str());
    return run_error(path.string() + ": cannot write (" + why + ")");
  };
  int err = 0;
  zip_t* za = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string why = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw fail(why);
  }
  std::vector<std::string> encoded;  // libzip reads the buffers at zip_close, so they must outlive it
  encoded.reserve(arrays.size());
  for (const auto& a : arrays) {
    encoded.push_back(npy_encode(a));
    zip_source_t* src = zip_source_buffer(za, encoded.back().data(), encoded.back().size(), 0);
    zip_int64_t idx = src ? zip_file_add(za, (a.name + ".npy").c_str(), src, ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
      if (src) zip_source_free(src);
      std::string why = zip_strerror(za);
      zip_discard(za);
      throw fail(why);
    }
    zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
  }
  if (zip_close(za) != 0) {
    std::string why = zip_strerror(za);
    zip_discard(za);
    throw fail(why);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw fail(std::strerror(errno));
}

}  // namespace tms::io
