// Initial weights: W ~ N(0, std^2) with the scheme's Xavier-normal std, b = 0 (the companion notebook).
#pragma once

#include <cstdint>

#include "core/config.hpp"

namespace tms {

// std = sqrt(2 / (fan_in + fan_out)) with PyTorch's fan rule for a 3-D tensor [K, a, c]:
// fan_in = a c, fan_out = K c. See init_scheme for the three layouts.
double init_std(init_scheme scheme, int n, int m, std::int64_t K);

// Fills params (layout of model_param_count) from the stream keyed by `stream_seed`.
void init_params(float* params, model_kind kind, int n, int m, std::uint64_t stream_seed, double std);

}  // namespace tms
