// Statistical checks of the data generator: x_i = 0 with probability 1 - p, else U[0, 1).
// Bounds are 6 standard errors, so a correct generator fails about once in 10^8 runs (and the stream is
// fixed, so the outcome is deterministic).
#include <gtest/gtest.h>

#include <cmath>

#include "core/data_sparse.hpp"

namespace tms {
namespace {

struct moments {
  double active = 0, mean = 0, second = 0, pair = 0;
  std::vector<double> per_feature;
  double min_value = 1, max_value = 0;
  std::int64_t N = 0;
};

moments sample_moments(double p, int B, int n, int steps, std::uint64_t seed) {
  sparse_batch<float> x;
  x.reserve(B, n);
  moments mo;
  mo.per_feature.assign(n, 0);
  std::vector<float> dense(n);
  for (int t = 0; t < steps; ++t) {
    sample_sparse_batch(x, seed, t, p);
    for (int s = 0; s < B; ++s) {
      std::fill(dense.begin(), dense.end(), 0.0f);
      int prev = -1;
      for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
        EXPECT_GT(x.index[e], prev) << "indices ascend within a sample";
        prev = x.index[e];
        dense[x.index[e]] = x.value[e];
        mo.min_value = std::min<double>(mo.min_value, x.value[e]);
        mo.max_value = std::max<double>(mo.max_value, x.value[e]);
        mo.per_feature[x.index[e]] += 1;
        mo.active += 1;
      }
      for (int i = 0; i < n; ++i) {
        mo.mean += dense[i];
        mo.second += static_cast<double>(dense[i]) * dense[i];
      }
      for (int i = 0; i + 1 < n; i += 2) mo.pair += dense[i] > 0 && dense[i + 1] > 0;
    }
  }
  mo.N = static_cast<std::int64_t>(B) * n * steps;
  mo.active /= mo.N;
  mo.mean /= mo.N;
  mo.second /= mo.N;
  mo.pair /= static_cast<double>(B) * (n / 2) * steps;
  return mo;
}

class DataStatistics : public ::testing::TestWithParam<double> {};

TEST_P(DataStatistics, DensityMeanVarianceIndependence) {
  const double p = GetParam();
  const int B = 2048, n = 64, steps = p < 0.01 ? 64 : 8;
  const moments mo = sample_moments(p, B, n, steps, 12345);
  const double N = static_cast<double>(mo.N);
  // Density: Bernoulli(p).
  EXPECT_NEAR(mo.active, p, 6 * std::sqrt(p * (1 - p) / N) + 1e-12);
  // Mean p/2: Var[x] = p/3 - p^2/4.
  const double var = p / 3 - p * p / 4;
  EXPECT_NEAR(mo.mean, p / 2, 6 * std::sqrt(var / N));
  // E[x^2] = p/3 (Var[x^2] = p/5 - p^2/9), hence the variance p/3 - p^2/4.
  EXPECT_NEAR(mo.second, p / 3, 6 * std::sqrt((p / 5 - p * p / 9) / N));
  EXPECT_NEAR(mo.second - mo.mean * mo.mean, var,
              6 * std::sqrt((p / 5 - p * p / 9) / N) + 6 * p * std::sqrt(var / N));
  // Values are U[0, 1): strictly below 1 and spread over the interval.
  if (mo.active * N > 1000) {
    EXPECT_GE(mo.min_value, 0.0);
    EXPECT_LT(mo.max_value, 1.0);
    EXPECT_LT(mo.min_value, 0.01);
    EXPECT_GT(mo.max_value, 0.99);
  }
  // Every feature has the same density (no positional bias in the binomial positions).
  const double per = static_cast<double>(B) * steps;
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(mo.per_feature[i] / per, p, 6 * std::sqrt(p * (1 - p) / per) + 1e-12) << "feature " << i;
  // Neighbouring features are independent: P(both active) = p^2.
  const double pairs = static_cast<double>(B) * (n / 2) * steps;
  EXPECT_NEAR(mo.pair, p * p, 6 * std::sqrt(p * p * (1 - p * p) / pairs) + 1e-12);
}

// Both sampling methods: Bernoulli words (dense) and binomial counts with drawn positions (sparse, here p <=
// 0.05).
INSTANTIATE_TEST_SUITE_P(Densities, DataStatistics,
                         ::testing::Values(1.0, 0.7, 0.3, 0.25, 0.2, 0.05, 0.01, 0.001));

TEST(Data, DenseAtDensityOne) {
  sparse_batch<float> x;
  x.reserve(5, 7);
  sample_sparse_batch(x, 0, 0, 1.0);
  EXPECT_EQ(x.nnz(), 35);
}

TEST(Data, SameKeySameBatchOtherKeyOtherBatch) {
  sparse_batch<float> a, b, c, d;
  for (auto* x : {&a, &b, &c, &d}) x->reserve(64, 33);
  sample_sparse_batch(a, 7, 3, 0.1);
  sample_sparse_batch(b, 7, 3, 0.1);
  sample_sparse_batch(c, 7, 4, 0.1);
  sample_sparse_batch(d, 8, 3, 0.1);
  EXPECT_EQ(a.offset, b.offset);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.value, b.value);
  EXPECT_NE(a.index, c.index);
  EXPECT_NE(a.index, d.index);
}

}  // namespace
}  // namespace tms

namespace tms {
namespace {

// Per-feature densities (paper E10): feature i is active with probability min(1, p r_i), independently.
TEST(Data, RelativeDensityPerFeature) {
  const int B = 4096, n = 6, steps = 16;
  const double p = 0.2;
  const std::vector<double> relative = {1, 0.25, 2, 10, 0.05, 1};
  sparse_batch<float> x;
  x.reserve(B, n);
  x.sampler.set_relative(relative);
  std::vector<double> count(n, 0), sum(n, 0);
  for (int t = 0; t < steps; ++t) {
    sample_sparse_batch(x, 5, t, p);
    for (int e = 0; e < x.nnz(); ++e) count[x.index[e]] += 1, sum[x.index[e]] += x.value[e];
  }
  const double N = static_cast<double>(B) * steps;
  for (int i = 0; i < n; ++i) {
    const double q = std::min(1.0, p * relative[i]);
    EXPECT_NEAR(count[i] / N, q, 6 * std::sqrt(q * (1 - q) / N) + 1e-12) << "feature " << i;
    EXPECT_NEAR(sum[i] / count[i], 0.5, 6 * std::sqrt(1.0 / 12 / count[i])) << "feature " << i;
  }
}

}  // namespace
}  // namespace tms
