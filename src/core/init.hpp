// Initial weights: every Xavier tensor of the table (W; W_in and W_out) ~ N(0, std^2) with the scheme's
// Xavier-normal std, the biases 0 (the companion notebook).
#pragma once

#include <cstdint>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

// std = sqrt(2 / (fan_in + fan_out)) with PyTorch's fan rule for a 3-D tensor [K, a, c]:
// fan_in = a c, fan_out = K c. See init_scheme for the three layouts.
double init_std(init_scheme scheme, int n, int m, std::int64_t K);

// Fills params (laid out as `layout`) from the stream keyed by `stream_seed`; the j-th Xavier tensor of the
// table draws its own numbers (counter word 0 = j), so adding a tensor after W leaves W's values as they
// were.
void init_params(float* params, const model_layout& layout, std::uint64_t stream_seed, double std);
// The same for a kind without a hidden bias (tests).
void init_params(float* params, model_kind kind, int n, int m, std::uint64_t stream_seed, double std);

}  // namespace tms
