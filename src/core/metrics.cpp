#include "core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/analysis_loss.hpp"
#include "core/data_sparse.hpp"

namespace tms {

double row_dot(const float* a, const float* b, int m) {
  double s = 0;
  for (int k = 0; k < m; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}

std::vector<double> gram(const float* W, int n, int m) {
  std::vector<double> G(static_cast<std::size_t>(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) G[static_cast<std::size_t>(i) * n + j] = row_dot(W + i * m, W + j * m, m);
  return G;
}

instance_metrics measure(const float* W, int n, int m) {
  instance_metrics out;
  out.norms.resize(n);
  out.superposition.resize(n);
  out.dimensionality.resize(n);
  for (int i = 0; i < n; ++i) out.norms[i] = std::sqrt(row_dot(W + i * m, W + i * m, m));
  for (int i = 0; i < n; ++i) {
    const double norm = out.norms[i];
    out.frobenius_sq += norm * norm;
    if (norm > represented_norm) ++out.represented;
    if (norm == 0) continue;  // an unlearned feature: no direction, D_i = 0, no interference
    double others = 0;
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      const double proj = row_dot(W + i * m, W + j * m, m) / norm;  // W^_i . W_j
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
  const std::vector<double> per_feature(n, density);
  return linear_loss_decomposition(W, b, importance, per_feature.data(), n, m);
}

linear_loss_terms linear_loss_decomposition(const float* W, const float* b, const float* importance,
                                            const double* density, int n, int m) {
  linear_loss_terms out;
  for (int i = 0; i < n; ++i) {
    double self = 0, cross = 0, mean = 0;
    for (int j = 0; j < n; ++j) {
      const double p = density[j], mu = p / 2, var = p / 3 - p * p / 4;
      const double a = (j == i ? 1.0 : 0.0) - row_dot(W + i * m, W + j * m, m);  // (I - W^T W)_ij
      mean += a * mu;
      if (j == i)
        self = a * a * var;
      else
        cross += a * a * var;
    }
    const double I = importance[i];
    const double mean_error = mean - b[i];
    out.feature_benefit += I * self;
    out.interference += I * cross;
    out.bias += I * mean_error * mean_error;
  }
  out.feature_benefit /= n;
  out.interference /= n;
  out.bias /= n;
  out.total = out.feature_benefit + out.interference + out.bias;
  return out;
}

const char* loss_split_total_name(model_kind kind) {
  switch (kind) {
    case model_kind::linear:
      return "expected_loss";
    case model_kind::relu_output:
      return "one_sparse_loss";
    case model_kind::relu_hidden:
    case model_kind::abs:
      return nullptr;
  }
  return nullptr;
}

bool has_loss_split(const train_config& c) {
  if (c.values != value_distribution::uniform || c.data != data_kind::independent ||
      !loss_split_total_name(c.model))
    return false;
  return c.model == model_kind::linear || c.relative_density.empty();
}

bool reported_loss_split(loss_split& out, model_kind kind, value_distribution values, data_kind data,
                         const float* W, const float* b, const float* importance, double density,
                         const std::vector<double>& relative, int n, int m) {
  if (values != value_distribution::uniform || data != data_kind::independent) return false;
  switch (kind) {
    case model_kind::linear: {
      std::vector<double> per_feature(n, density);
      for (int i = 0; i < n; ++i) per_feature[i] = feature_density(density, relative, i);
      const linear_loss_terms t = linear_loss_decomposition(W, b, importance, per_feature.data(), n, m);
      out = {t.feature_benefit, t.interference, t.bias, t.total, loss_split_total_name(kind)};
      return true;
    }
    case model_kind::relu_output: {
      if (!relative.empty()) return false;
      const relu_loss_terms t = relu_loss_decomposition(W, b, importance, density, n, m);
      const double one = density * std::pow(1.0 - density, n - 1);  // P(exactly one given feature active)
      out = {one * t.feature_benefit / n, one * t.interference / n, std::pow(1.0 - density, n) * t.l0 / n,
             t.expected_one_sparse / n, loss_split_total_name(kind)};
      return true;
    }
    case model_kind::relu_hidden:
    case model_kind::abs:
      return false;
  }
  return false;
}

}  // namespace tms
