// Test helper: the mean training loss of fixed weights over many batches of the engine's own generator, with
// its standard error, for checking closed-form expected losses.
#pragma once

#include <cmath>
#include <vector>

#include "core/model.hpp"

namespace tms::testing {

struct mean_loss {
  double mean = 0;
  double se = 0;  // standard error of the mean over batches
};

inline mean_loss monte_carlo_loss(model_kind kind, const std::vector<float>& params,
                                  const std::vector<float>& importance, int n, int m, int B, int steps,
                                  double density, std::uint64_t seed,
                                  const std::vector<double>& relative = {}) {
  model_workspace<float> ws;
  ws.reserve(B, n, m);
  ws.x.sampler.set_relative(relative);
  std::vector<float> grad(params.size());
  double sum = 0, sum_sq = 0;
  for (int t = 0; t < steps; ++t) {
    sample_sparse_batch(ws.x, seed, t, density);
    const double l = model_loss_and_grad(kind, grad.data(), params.data(), importance.data(), n, m, ws);
    sum += l;
    sum_sq += l * l;
  }
  const double mean = sum / steps;
  return {mean, std::sqrt((sum_sq / steps - mean * mean) / steps)};
}

}  // namespace tms::testing
