#include "core/analysis_loss.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/kernels/philox_simd.hpp"
#include "core/metrics.hpp"
#include "core/rng.hpp"

namespace tms {
namespace {

// int_lo^hi (alpha x + beta)^2 dx, expanded so that alpha = 0 needs no special case.
double square_integral(double alpha, double beta, double lo, double hi) {
  if (hi <= lo) return 0;
  return beta * beta * (hi - lo) + alpha * beta * (hi * hi - lo * lo) +
         alpha * alpha * (hi * hi * hi - lo * lo * lo) / 3;
}

// The part of [0, 1] where a x + c > 0: one interval touching an end (or empty, or all of it).
struct interval {
  double lo, hi;
};
interval active_part(double a, double c) {
  if (a == 0) return c > 0 ? interval{0, 1} : interval{0, 0};
  const double root = std::clamp(-c / a, 0.0, 1.0);
  return a > 0 ? interval{root, 1} : interval{0, root};
}

double relu(double v) {
  return v > 0 ? v : 0;
}

}  // namespace

double relu_benefit_integral(double a, double c) {
  // Where the ReLU is off the error is x^2; where it is on, ((1 - a) x - c)^2.
  const interval on = active_part(a, c);
  return 1.0 / 3 - square_integral(1, 0, on.lo, on.hi) + square_integral(1 - a, -c, on.lo, on.hi);
}

double relu_square_integral(double a, double c) {
  const interval on = active_part(a, c);
  return square_integral(a, c, on.lo, on.hi);
}

relu_loss_terms relu_loss_decomposition(const float* W, const float* b, const float* importance,
                                        double density, int n, int m) {
  if (n < 1) throw usage_error("features: " + std::to_string(n) + " must be at least 1");
  if (m < 1) throw usage_error("hidden: " + std::to_string(m) + " must be at least 1");
  if (!(density > 0 && density <= 1))
    throw usage_error("density: " + std::to_string(density) + " is outside (0, 1]; the density is 1 - S");
  auto row = [&](int i) { return W + static_cast<std::size_t>(i) * m; };
  relu_loss_terms out;
  for (int i = 0; i < n; ++i) {  // i: the one active feature
    const double I_i = importance[i], self = row_dot(row(i), row(i), m);
    out.feature_benefit += I_i * relu_benefit_integral(self, b[i]);
    const double miss = 1 - relu(self + b[i]);
    out.feature_benefit_at_one += I_i * miss * miss;
    out.l0 += I_i * relu(b[i]) * relu(b[i]);
    for (int j = 0; j < n; ++j) {  // j: an output that should stay 0
      if (j == i) continue;
      const double I_j = importance[j], overlap = row_dot(row(j), row(i), m);
      out.interference += I_j * relu_square_integral(overlap, b[j]);
      const double leak = relu(overlap + b[j]);
      out.interference_at_one += I_j * leak * leak;
    }
  }
  out.l1 = out.feature_benefit + out.interference;
  const double S = 1 - density;
  out.expected_one_sparse = std::pow(S, n) * out.l0 + density * std::pow(S, n - 1) * out.l1;
  return out;
}

std::vector<double> relu_pattern_losses(const float* W, const float* b, const float* importance, int n, int m,
                                        int points, std::uint64_t seed) {
  if (n < 1 || n > 20)
    throw usage_error("features: " + std::to_string(n) + "; allowed: 1 to 20 for pattern losses");
  if (m < 1) throw usage_error("hidden: " + std::to_string(m) + "; allowed: at least 1");
  if (points < 1) throw usage_error("points: " + std::to_string(points) + "; allowed: at least 1");
  std::vector<std::uint32_t> words(static_cast<std::size_t>(points) * n);
  kernels::philox_fill(words.data(), words.size(), seed, 0, rng_tag::evaluation);
  const std::size_t patterns = std::size_t{1} << n;
  std::vector<double> table(patterns, 0.0), x(n), h(m);
  for (std::size_t p = 0; p < patterns; ++p) {
    double sum = 0;
    for (int q = 0; q < points; ++q) {
      for (int i = 0; i < n; ++i)
        x[i] = (p >> i) & 1 ? uniform_float(words[static_cast<std::size_t>(q) * n + i]) : 0.0;
      for (int k = 0; k < m; ++k) {
        h[k] = 0;
        for (int i = 0; i < n; ++i) h[k] += x[i] * W[static_cast<std::size_t>(i) * m + k];
      }
      for (int i = 0; i < n; ++i) {
        double pre = b[i];
        for (int k = 0; k < m; ++k) pre += W[static_cast<std::size_t>(i) * m + k] * h[k];
        const double err = x[i] - std::max(pre, 0.0);
        sum += importance[i] * err * err;
      }
    }
    table[p] = sum / points;
  }
  return table;
}

double expected_loss_from_patterns(const std::vector<double>& table, const double* density, int n) {
  if (table.size() != (std::size_t{1} << n))
    throw usage_error("table: " + std::to_string(table.size()) +
                      " entries; allowed: 2^n = " + std::to_string(std::size_t{1} << n));
  double total = 0;
  for (std::size_t p = 0; p < table.size(); ++p) {
    double prob = 1;
    for (int i = 0; i < n; ++i) prob *= (p >> i) & 1 ? density[i] : 1 - density[i];
    total += prob * table[p];
  }
  return total / n;
}

}  // namespace tms
