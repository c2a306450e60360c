#include "io/npz.hpp"

#include <zip.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/errors.hpp"
#include "io/atomic_file.hpp"

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
npy_array npy_u64(std::string name, std::vector<std::int64_t> shape, const std::vector<std::uint64_t>& data) {
  return make(std::move(name), std::move(shape), "<u8", data);
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

std::filesystem::path write_npz_temporary(const std::filesystem::path& path,
                                          const std::vector<npy_array>& arrays) {
  const std::filesystem::path tmp = temporary_path(path);
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
  try {
    sync_file(tmp);
  } catch (const run_error&) {
    throw fail("cannot flush to disk");
  }
  return tmp;
}

void write_npz(const std::filesystem::path& path, const std::vector<npy_array>& arrays) {
  commit_file(write_npz_temporary(path, arrays), path);
}

namespace {

[[noreturn]] void bad(std::string_view field, const std::filesystem::path& path, const std::string& what) {
  throw usage_error(std::string(field) + ": " + path.string() + ": " + what +
                    "; allowed: an archive as tms writes it (rerun 'tms train' to replace it)");
}

std::size_t item_size(const std::string& descr) {
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr == "<f8" || descr == "<i8" || descr == "<u8") return 8;
  if (descr == "|u1") return 1;
  return 0;
}

}  // namespace

npy_header parse_npy_header(std::string_view text, std::string_view field) {
  // {'descr': '<f4', 'fortran_order': False, 'shape': (4, 8, 3), }  (keys in any order, spaces optional)
  auto fail = [&](const std::string& what) -> usage_error {
    return usage_error(std::string(field) + ": the .npy header " + what);
  };
  npy_header h;
  std::size_t at = 0;
  auto skip = [&]() {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\n')) ++at;
  };
  auto expect = [&](char c) {
    skip();
    if (at >= text.size() || text[at] != c) throw fail(std::string("lacks '") + c + "'");
    ++at;
  };
  auto quoted = [&]() {
    skip();
    if (at >= text.size() || (text[at] != '\'' && text[at] != '"'))
      throw fail("has an unquoted key or value");
    const char q = text[at++];
    const std::size_t end = text.find(q, at);
    if (end == std::string_view::npos) throw fail("has an unterminated string");
    std::string s(text.substr(at, end - at));
    at = end + 1;
    return s;
  };
  bool seen_descr = false, seen_order = false, seen_shape = false;
  expect('{');
  while (true) {
    skip();
    if (at < text.size() && text[at] == '}') break;
    const std::string key = quoted();
    expect(':');
    skip();
    if (key == "descr" && !seen_descr) {
      h.descr = quoted();
      seen_descr = true;
    } else if (key == "fortran_order" && !seen_order) {
      if (text.substr(at, 5) == "False") {
        h.fortran_order = false, at += 5;
      } else if (text.substr(at, 4) == "True") {
        h.fortran_order = true, at += 4;
      } else {
        throw fail("has a fortran_order that is neither True nor False");
      }
      seen_order = true;
    } else if (key == "shape" && !seen_shape) {
      expect('(');
      while (true) {
        skip();
        if (at < text.size() && text[at] == ')') break;
        std::int64_t v = 0;
        const auto r = std::from_chars(text.data() + at, text.data() + text.size(), v);
        if (r.ec != std::errc() || v < 0) throw fail("has a bad shape");
        h.shape.push_back(v);
        at = static_cast<std::size_t>(r.ptr - text.data());
        skip();
        if (at < text.size() && text[at] == ',')
          ++at;
        else if (at >= text.size() || text[at] != ')')
          throw fail("has a bad shape");
      }
      ++at;
      seen_shape = true;
    } else {
      throw fail("has an unknown or repeated key '" + key + "'");
    }
    skip();
    if (at < text.size() && text[at] == ',')
      ++at;
    else if (at >= text.size() || text[at] != '}')
      throw fail("lacks ',' or '}'");
  }
  if (!seen_descr || !seen_order || !seen_shape) throw fail("lacks descr, fortran_order or shape");
  return h;
}

std::vector<npy_array> read_npz(const std::filesystem::path& path, std::string_view field,
                                std::int64_t max_entry_bytes) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string why = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    bad(field, path, "not a readable zip archive (" + why + ")");
  }
  struct closer {
    zip_t* za;
    ~closer() { zip_discard(za); }
  } guard{za};
  std::vector<npy_array> out;
  const zip_int64_t entries = zip_get_num_entries(za, 0);
  for (zip_int64_t e = 0; e < entries; ++e) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, static_cast<zip_uint64_t>(e), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      bad(field, path, "an entry cannot be read");
    std::string name = st.name;
    if (name.size() < 5 || name.substr(name.size() - 4) != ".npy")
      bad(field, path, "holds '" + name + "', not a .npy");
    if (st.size > static_cast<zip_uint64_t>(max_entry_bytes) || st.size < 10)
      bad(field, path,
          "entry '" + name + "' has " + std::to_string(st.size) + " bytes, not what its run allows");
    std::string bytes(static_cast<std::size_t>(st.size), '\0');
    zip_file_t* f = zip_fopen_index(za, static_cast<zip_uint64_t>(e), 0);
    if (!f) bad(field, path, "entry '" + name + "' cannot be opened (" + zip_strerror(za) + ")");
    const zip_int64_t got = zip_fread(f, bytes.data(), st.size);
    const bool crc_ok = zip_fclose(f) == 0;
    if (got != static_cast<zip_int64_t>(st.size) || !crc_ok)
      bad(field, path, "entry '" + name + "' is truncated or corrupt");
    if (bytes.compare(0, 6, "\x93NUMPY") != 0) bad(field, path, "entry '" + name + "' is not a .npy array");
    const int major = static_cast<unsigned char>(bytes[6]);
    std::size_t header_len = 0, prefix = 0;
    if (major == 1) {
      header_len = static_cast<unsigned char>(bytes[8]) |
                   static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
      prefix = 10;
    } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
      for (int j = 0; j < 4; ++j)
        header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + j])) << (8 * j);
      prefix = 12;
    } else {
      bad(field, path, "entry '" + name + "' has an unknown .npy version");
    }
    if (prefix + header_len > bytes.size()) bad(field, path, "entry '" + name + "' has a truncated header");
    npy_header h;
    try {
      h = parse_npy_header(std::string_view(bytes).substr(prefix, header_len), field);
    } catch (const usage_error& ex) {
      bad(field, path, "entry '" + name + "': " + std::string(ex.what()).substr(field.size() + 2));
    }
    const std::size_t item = item_size(h.descr);
    if (item == 0 || h.fortran_order)
      bad(field, path,
          "entry '" + name + "' has dtype '" + h.descr + "'" + (h.fortran_order ? " in Fortran order" : ""));
    std::uint64_t count = 1;
    for (std::int64_t d : h.shape) {
      if (d > 0 && count > static_cast<std::uint64_t>(max_entry_bytes) / static_cast<std::uint64_t>(d))
        bad(field, path, "entry '" + name + "' has a shape too large for its run");
      count *= static_cast<std::uint64_t>(d);
    }
    if (prefix + header_len + count * item != bytes.size())
      bad(field, path,
          "entry '" + name + "' holds " + std::to_string(bytes.size() - prefix - header_len) +
              " data bytes, not the " + std::to_string(count * item) + " its shape needs");
    npy_array a;
    a.name = name.substr(0, name.size() - 4);
    a.shape = h.shape;
    a.descr = h.descr;
    a.bytes = bytes.substr(prefix + header_len);
    for (const auto& other : out)
      if (other.name == a.name) bad(field, path, "holds '" + name + "' twice");
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace tms::io
