#include "core/metrics.hpp"

#include <cmath>
#include <limits>

namespace tms {
namespace {

double dot(const float* a, const float* b, int m) {
  double s = 0;
  for (int k = 0; k < m; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}

}  // namespace

std::vector<double> gram(const float* W, int n, int m) {
  std::vector<double> G(static_cast<std::size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) G[static_cast<std::size_t>(i) * n + j] = dot(W + i * m, W + j * m, m);
  return G;
}

instance_metrics measure(const float* W, int n, int m) {
  instance_metrics out;
  out.norms.resize(n);
  out.superposition.resize(n);
  out.dimensionality.resize(n);
  for (int i = 0; i < n; ++i) out.norms[i] = std::sqrt(dot(W + i * m, W + i * m, m));
  for (int i = 0; i < n; ++i) {
    const double norm = out.norms[i];
    out.frobenius_sq += norm * norm;
    if (norm > represented_norm) ++out.represented;
    if (norm == 0) continue;  // an unlearned feature: no direction, D_i = 0, no interference
    double others = 0;
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const double proj = dot(W + i * m, W + j * m, m) / norm;  // W^_i . W_j
      others += proj * proj;
    }
    out.superposition[i] = others;
    out.dimensionality[i] = norm * norm / (norm * norm + others);  // the j = i term of the sum is ||W_i||^2
  }
  out.dims_per_feature =
      out.frobenius_sq > 0 ? m / out.frobenius_sq : std::numeric_limits<double>::infinity();
  return out;
}

linear_loss_terms linear_loss_decomposition(const float* W, const float* b, const float* importance,
                                            double density, int n, int m) {
  const double p = density, mu = p / 2, var = p / 3 - p * p / 4;
  linear_loss_terms out;
  for (int i = 0; i < n; ++i) {
    double self = 0, cross = 0, row = 0;
    for (int j = 0; j < n; ++j) {
      const double g = dot(W + i * m, W + j * m, m);
      row += g;
      if (j == i)
        self = g;
      else
        cross += g * g;
    }
    const double I = importance[i];
    const double mean_error = mu * (1 - row) - b[i];
    out.feature_benefit += var * I * (1 - self) * (1 - self);
    out.interference += var * I * cross;
    out.bias += I * mean_error * mean_error;
  }
  out.feature_benefit /= n;
  out.interference /= n;
  out.bias /= n;
  out.total = out.feature_benefit + out.interference + out.bias;
  return out;
}

}  // namespace tms
