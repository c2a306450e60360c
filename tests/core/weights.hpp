// Test helper: weights written as one row W_i per feature, flattened into the engine's W [n][m].
#pragma once

#include <vector>

namespace tms::testing {

using rows = std::vector<std::vector<double>>;

inline std::vector<float> flatten(const rows& r) {
  std::vector<float> W;
  for (const auto& row : r)
    for (double v : row) W.push_back(static_cast<float>(v));
  return W;
}

}  // namespace tms::testing
