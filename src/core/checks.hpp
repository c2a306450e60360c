// The range checks every config's validate() uses, so each refusal reads the same: "FIELD: VALUE is not
// allowed; allowed: ...".
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/errors.hpp"

namespace tms::checks {

// The shortest text that reads back as v.
inline std::string fmt(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

[[noreturn]] inline void fail(std::string_view field, const std::string& what) {
  throw usage_error(std::string(field) + ": " + what);
}

inline void check_int(std::string_view field, std::int64_t v, std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi)
    fail(field, std::to_string(v) + " is out of range; allowed: an integer in [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
}

inline void check_real(std::string_view field, double v, double lo, bool lo_open, double hi, bool hi_open) {
  bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::string range = std::string(lo_open ? "(" : "[") + fmt(lo) + ", " +
                        (std::isinf(hi) ? std::string("inf") : fmt(hi)) + (hi_open ? ")" : "]");
    fail(field, fmt(v) + " is not allowed; allowed: a finite number in " + range);
  }
}

}  // namespace tms::checks
