#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/errors.hpp"

namespace tms::io {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw run_error(path.string() + ": cannot write (" + std::strerror(ok ? errno : e) + ")");
  }
}

void ensure_writable_dir(const std::filesystem::path& dir, std::string_view field) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw usage_error(std::string(field) + ": cannot create the folder '" + dir.string() + "' (" +
                      (ec ? ec.message() : std::string("a file is in the way")) +
                      "); allowed: a writable folder path");
  const std::filesystem::path probe = dir / ".tms-write-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw usage_error(std::string(field) + ": cannot write into '" + dir.string() + "' (" +
                      std::strerror(errno) + "); allowed: a writable folder path");
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace tms::io
