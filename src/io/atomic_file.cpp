#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/errors.hpp"

namespace tms::io {

std::filesystem::path temporary_path(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

bool is_temporary_name(const std::string& name) {
  // NAME.tmp.PID.N: two runs of digits after ".tmp."
  const std::size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0) return false;
  const std::string rest = name.substr(at + 5);
  const std::size_t dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) return false;
  for (std::size_t j = 0; j < rest.size(); ++j)
    if (j != dot && !(rest[j] >= '0' && rest[j] <= '9')) return false;
  return true;
}

std::filesystem::path write_temporary(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path tmp = temporary_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw run_error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw run_error(path.string() + ": cannot write (" + std::strerror(e) + ")");
    }
    written += static_cast<std::size_t>(w);
  }
  const bool ok = ::fsync(fd) == 0;
  const int e = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw run_error(path.string() + ": cannot write (" + std::strerror(e) + ")");
  }
  return tmp;
}

void sync_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  const bool ok = fd >= 0 && ::fsync(fd) == 0;
  const int e = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw run_error(file.string() + ": cannot flush to disk (" + std::strerror(e) + ")");
}

void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path) {
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(temporary.c_str());
    throw run_error(path.string() + ": cannot write (" + std::strerror(e) + ")");
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  commit_file(write_temporary(path, bytes), path);
}

file_digest digest_bytes(std::string_view bytes) {
  file_digest d;
  d.bytes = static_cast<std::int64_t>(bytes.size());
  uLong crc = ::crc32(0L, Z_NULL, 0);
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t chunk = std::min<std::size_t>(bytes.size() - at, 1u << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(chunk));
    at += chunk;
  }
  d.crc32 = static_cast<std::uint32_t>(crc);
  return d;
}

file_digest digest_file(const std::filesystem::path& file, std::string_view field) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw usage_error(std::string(field) + ": cannot read " + file.string());
  file_digest d;
  uLong crc = ::crc32(0L, Z_NULL, 0);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(got));
    d.bytes += got;
  }
  if (in.bad()) throw usage_error(std::string(field) + ": cannot read " + file.string());
  d.crc32 = static_cast<std::uint32_t>(crc);
  return d;
}

void ensure_writable_dir(const std::filesystem::path& dir, std::string_view field) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw usage_error(std::string(field) + ": cannot create the folder '" + dir.string() + "' (" +
                      (ec ? ec.message() : std::string("a file is in the way")) +
                      "); allowed: a writable folder path");
  const std::filesystem::path probe = temporary_path(dir / ".tms-write-probe");
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw usage_error(std::string(field) + ": cannot write into '" + dir.string() + "' (" +
                      std::strerror(errno) + "); allowed: a writable folder path");
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace tms::io
