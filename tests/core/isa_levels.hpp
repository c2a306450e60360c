// Test helper: the instruction-set levels of the fast builds (core/kernels/isa.hpp) as GoogleTest parameters,
// named and printed by level.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "core/kernels/isa.hpp"

namespace tms::kernels {

inline void PrintTo(isa which, std::ostream* os) {
  *os << isa_name(which);
}

}  // namespace tms::kernels

namespace tms::testing {

// Every level a machine could run, best first.
inline auto isa_levels() {
  return ::testing::Values(kernels::isa::avx512, kernels::isa::avx2, kernels::isa::baseline);
}

inline std::string isa_test_name(const ::testing::TestParamInfo<kernels::isa>& info) {
  return kernels::isa_name(info.param);
}

}  // namespace tms::testing
