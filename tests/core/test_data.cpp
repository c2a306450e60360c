// Statistical checks of the data generator: x_i = 0 with probability 1 - p, else U[0, 1).
// Bounds are 6 standard errors, so a correct generator fails about once in 10^8 runs (and the stream is
// fixed, so the outcome is deterministic).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

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

// ---- Chi-square and Kolmogorov-Smirnov tests of the sampler, per method (Bernoulli words, binomial counts
// with drawn positions: see choose_sampling; batch_sampler::force_method picks either at any density), at
// p = 0.5, 0.05, 0.001 and with per-feature densities. Three statistics of the reference sampler's batches:
//   * the number of active features of a sample against its exact law (Binomial(n, p); with per-feature
//     densities the Poisson binomial), bins merged until each expects >= 10 samples;
//   * the active count of each feature against its Binomial(N, p_i) (the features are independent, so
//     sum_i (O_i - N p_i)^2 / (N p_i (1 - p_i)) is chi-square with n degrees of freedom): a positional bias;
//   * the values of the active features against U[0, 1): a 64-bin chi-square and the KS distance.
// The sample sizes give each feature about 4000 expected activations, so that moving half of one feature's
// activations to its neighbour (a +-50% positional bias) adds about 0.5 x 4000 = 2000 to a statistic whose
// 1e-12 tail starts near 100: TheStatisticsRejectBiasedSamplers checks exactly that, on biased copies of the
// same batches. The seed is fixed, so each outcome is deterministic; a correct sampler must have every
// p-value above 1e-6.
namespace tms {
namespace {

// Q(a, x), the regularized upper incomplete gamma function: the series for x < a + 1, else Lentz's continued
// fraction (Numerical Recipes 6.2), both to double precision.
double gamma_q(double a, double x) {
  if (x <= 0) return 1;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    double term = 1 / a, sum = term;
    for (int k = 1; k < 10000 && std::abs(term) > 1e-17 * std::abs(sum); ++k) sum += term *= x / (a + k);
    return 1 - sum * std::exp(log_prefix);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int k = 1; k < 10000; ++k) {
    const double an = -k * (k - a);
    b += 2;
    d = an * d + b;
    d = std::abs(d) < tiny ? tiny : d;
    c = b + an / c;
    c = std::abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-16) break;
  }
  return std::exp(log_prefix) * h;
}

// P(chi-square with k degrees of freedom >= x).
double chi2_p_value(double x, double k) {
  return gamma_q(k / 2, x / 2);
}

// P(sqrt(N) D >= lambda) for the KS distance D of N uniform draws (Kolmogorov's limit, with Stephens'
// finite-N correction of lambda).
double ks_p_value(double D, double N) {
  const double lambda = (std::sqrt(N) + 0.12 + 0.11 / std::sqrt(N)) * D;
  if (lambda < 0.2) return 1;
  double sum = 0;
  for (int k = 1; k <= 100; ++k) sum += (k % 2 ? 2 : -2) * std::exp(-2.0 * k * k * lambda * lambda);
  return std::clamp(sum, 0.0, 1.0);
}

constexpr int value_bins = 1 << 16;  // the fine histogram of values (the KS distance is read at its edges)

// What the statistics read from N samples: active counts per feature, samples per number of active features,
// and a fine histogram of the active values.
struct sampler_tally {
  std::int64_t N = 0;
  std::vector<double> per_feature;  // [n]
  std::vector<double> per_count;    // [n + 1]
  std::vector<double> values;       // [value_bins]
};

// Deliberate defects applied to each sample before it is tallied, to show that the statistics catch them.
enum class defect {
  none,
  positional,  // a +-50% positional bias: feature 0 at density p / 2, feature 1 at 3 p / 2
  count,       // half of the samples with the modal count max(1, round(n p)) lose one active feature
  value,       // values v -> v^1.1 (the median moves by 0.03)
};

sampler_tally tally(int n, double p, const std::vector<double>& relative, bool binomial, std::int64_t samples,
                    std::uint64_t seed, defect bias = defect::none) {
  const int B = 4096;
  sparse_batch<float> x;
  x.reserve(B, n);
  x.sampler.set_relative(relative);
  if (relative.empty())
    x.sampler.force_method(binomial ? sampling_method::binomial : sampling_method::bernoulli);
  sampler_tally t;
  t.per_feature.assign(n, 0);
  t.per_count.assign(n + 1, 0);
  t.values.assign(value_bins, 0);
  std::vector<int> idx;
  std::vector<float> val;
  std::mt19937_64 coins(7);  // the defects' own randomness
  std::uniform_real_distribution<double> u01(0, 1);
  const int mode = std::max(1, static_cast<int>(std::lround(n * p)));
  for (std::int64_t step = 0; t.N < samples; ++step) {
    sample_sparse_batch(x, seed, step, p);
    EXPECT_EQ(x.sampler.method,
              relative.empty() && binomial ? sampling_method::binomial : sampling_method::bernoulli);
    for (int s = 0; s < B && t.N < samples; ++s, ++t.N) {
      idx.assign(x.index.begin() + x.offset[s], x.index.begin() + x.offset[s + 1]);
      val.assign(x.value.begin() + x.offset[s], x.value.begin() + x.offset[s + 1]);
      if (bias == defect::positional) {
        // Feature 0 kept with probability 1/2; an inactive feature 1 switched on with probability
        // p / (2 (1 - p)), so that it is active with probability 3 p / 2.
        const auto at0 = std::find(idx.begin(), idx.end(), 0);
        if (at0 != idx.end() && u01(coins) < 0.5)
          val.erase(val.begin() + (at0 - idx.begin())), idx.erase(at0);
        if (std::find(idx.begin(), idx.end(), 1) == idx.end() && u01(coins) < 0.5 * p / (1 - p))
          idx.push_back(1), val.push_back(static_cast<float>(u01(coins)));
      } else if (bias == defect::count && static_cast<int>(idx.size()) == mode && u01(coins) < 0.5) {
        idx.pop_back(), val.pop_back();
      } else if (bias == defect::value) {
        for (float& v : val) v = std::pow(v, 1.1f);
      }
      t.per_count[idx.size()] += 1;
      for (std::size_t e = 0; e < idx.size(); ++e) {
        t.per_feature[idx[e]] += 1;
        t.values[std::min(value_bins - 1, static_cast<int>(val[e] * value_bins))] += 1;
      }
    }
  }
  return t;
}

std::vector<double> feature_densities(int n, double p, const std::vector<double>& relative) {
  std::vector<double> q(n, p);
  for (int i = 0; i < n && !relative.empty(); ++i) q[i] = std::min(1.0, p * relative[i]);
  return q;
}

struct chi2 {
  double statistic = 0, dof = 0;
  double p_value() const { return chi2_p_value(statistic, dof); }
};

// The number of active features per sample against its law: the Poisson binomial of the densities q (the
// exact pmf by convolution), bins merged from k = 0 up until each expects at least 10 samples.
chi2 count_statistic(const sampler_tally& t, const std::vector<double>& q) {
  const int n = static_cast<int>(q.size());
  std::vector<double> pmf(n + 1, 0.0);
  pmf[0] = 1;
  for (int i = 0; i < n; ++i)
    for (int k = i + 1; k >= 0; --k) pmf[k] = pmf[k] * (1 - q[i]) + (k > 0 ? pmf[k - 1] * q[i] : 0.0);
  const double N = static_cast<double>(t.N);
  std::vector<double> expected, observed;
  double e = 0, o = 0;
  for (int k = 0; k <= n; ++k) {
    e += N * pmf[k], o += t.per_count[k];
    if (e >= 10) expected.push_back(e), observed.push_back(o), e = o = 0;
  }
  if (expected.empty()) return {};
  expected.back() += e, observed.back() += o;  // the tail that expects fewer than 10 joins the last bin
  chi2 out{0, static_cast<double>(expected.size()) - 1};
  for (std::size_t b = 0; b < expected.size(); ++b)
    out.statistic += (observed[b] - expected[b]) * (observed[b] - expected[b]) / expected[b];
  return out;
}

// Each feature's active count against Binomial(N, q_i); features with q_i = 1 must be active in every sample
// (checked here) and carry no degree of freedom.
chi2 positional_statistic(const sampler_tally& t, const std::vector<double>& q) {
  const double N = static_cast<double>(t.N);
  chi2 out;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i] >= 1) {
      EXPECT_EQ(t.per_feature[i], N) << "feature " << i << " has density 1";
      continue;
    }
    const double mean = N * q[i], d = t.per_feature[i] - mean;
    out.statistic += d * d / (mean * (1 - q[i]));
    out.dof += 1;
  }
  return out;
}

// The values against U[0, 1): 64 equal bins.
chi2 value_statistic(const sampler_tally& t) {
  const int coarse = 64, per = value_bins / coarse;
  double total = 0;
  for (double c : t.values) total += c;
  chi2 out{0, coarse - 1.0};
  for (int b = 0; b < coarse; ++b) {
    double o = 0;
    for (int j = 0; j < per; ++j) o += t.values[b * per + j];
    const double e = total / coarse;
    out.statistic += (o - e) * (o - e) / e;
  }
  return out;
}

// The KS p-value of the values against U[0, 1), the distance read at the fine histogram's edges.
double value_ks_p_value(const sampler_tally& t) {
  double total = 0;
  for (double c : t.values) total += c;
  double cdf = 0, D = 0;
  for (int b = 0; b < value_bins; ++b) {
    cdf += t.values[b];
    D = std::max(D, std::abs(cdf / total - static_cast<double>(b + 1) / value_bins));
  }
  return ks_p_value(D, total);
}

struct chi2_case {
  const char* name;
  bool binomial;  // the binomial method (forced); else Bernoulli words
  double p;
  bool relative;  // per-feature densities {0.5, 1, 2, 3, 1, ...} (Bernoulli only)
};

class SamplerChiSquare : public ::testing::TestWithParam<chi2_case> {};

constexpr int chi2_n = 20;

std::vector<double> chi2_relative(bool on) {
  std::vector<double> r;
  for (int i = 0; on && i < chi2_n; ++i) r.push_back(std::vector<double>{0.5, 1, 2, 3}[i % 4]);
  return r;
}

// About 4000 expected activations for the sparsest feature.
std::int64_t chi2_samples(double p, bool relative) {
  return static_cast<std::int64_t>(std::ceil(4000 / (p * (relative ? 0.5 : 1.0))));
}

TEST_P(SamplerChiSquare, CountsPositionsAndValuesFollowTheirLaws) {
  const chi2_case c = GetParam();
  const std::vector<double> relative = chi2_relative(c.relative);
  const sampler_tally t = tally(chi2_n, c.p, relative, c.binomial, chi2_samples(c.p, c.relative), 2024);
  const std::vector<double> q = feature_densities(chi2_n, c.p, relative);
  const chi2 counts = count_statistic(t, q), positions = positional_statistic(t, q),
             values = value_statistic(t);
  EXPECT_GE(counts.dof, 1);
  EXPECT_GT(counts.p_value(), 1e-6) << "active count per sample: chi2 " << counts.statistic << " on "
                                    << counts.dof << " dof";
  EXPECT_GT(positions.p_value(), 1e-6)
      << "active count per feature: chi2 " << positions.statistic << " on " << positions.dof << " dof";
  EXPECT_GT(values.p_value(), 1e-6) << "values in 64 bins: chi2 " << values.statistic;
  EXPECT_GT(value_ks_p_value(t), 1e-6) << "values: KS";
}

INSTANTIATE_TEST_SUITE_P(MethodsAndDensities, SamplerChiSquare,
                         ::testing::Values(chi2_case{"bernoulli_p0_5", false, 0.5, false},
                                           chi2_case{"bernoulli_p0_05", false, 0.05, false},
                                           chi2_case{"bernoulli_p0_001", false, 0.001, false},
                                           chi2_case{"binomial_p0_5", true, 0.5, false},
                                           chi2_case{"binomial_p0_05", true, 0.05, false},
                                           chi2_case{"binomial_p0_001", true, 0.001, false},
                                           chi2_case{"relative_p0_5", false, 0.5, true},
                                           chi2_case{"relative_p0_05", false, 0.05, true},
                                           chi2_case{"relative_p0_001", false, 0.001, true}),
                         [](const ::testing::TestParamInfo<chi2_case>& info) {
                           return std::string(info.param.name);
                         });

// The test of the tests: the same batches with a deliberate defect each fail their statistic with a p-value
// below 1e-12, at every density and for both methods, while the clean batches pass (above). Among them the
// +-50% positional bias that the 6-sigma per-feature bound of DensityMeanVarianceIndependence lets through at
// p = 0.001 (there each feature expects only ~131 activations).
TEST(SamplerChiSquare, TheStatisticsRejectBiasedSamplers) {
  for (bool binomial : {false, true})
    for (double p : {0.5, 0.05, 0.001}) {
      const std::vector<double> q = feature_densities(chi2_n, p, {});
      const std::int64_t N = chi2_samples(p, false);
      const sampler_tally pos = tally(chi2_n, p, {}, binomial, N, 2024, defect::positional);
      EXPECT_LT(positional_statistic(pos, q).p_value(), 1e-12) << "positional bias, p = " << p;
      EXPECT_NEAR(pos.per_feature[0] / (N * p), 0.5, 0.05) << "the defect is the +-50% bias";
      EXPECT_NEAR(pos.per_feature[1] / (N * p), 1.5, 0.05) << "the defect is the +-50% bias";
      const sampler_tally cnt = tally(chi2_n, p, {}, binomial, N, 2024, defect::count);
      EXPECT_LT(count_statistic(cnt, q).p_value(), 1e-12) << "count bias, p = " << p;
      const sampler_tally val = tally(chi2_n, p, {}, binomial, N, 2024, defect::value);
      EXPECT_LT(value_ks_p_value(val), 1e-12) << "value bias (KS), p = " << p;
      EXPECT_LT(value_statistic(val).p_value(), 1e-12) << "value bias (chi2), p = " << p;
    }
  // The p-value functions themselves, at known points: the chi-square median with 2 dof is 2 ln 2, P(chi2_1
  // >= 3.841459) = 0.05, P(chi2_10 >= 29.5883) = 0.001; Kolmogorov: P(lambda >= 1.358099) = 0.05.
  EXPECT_NEAR(chi2_p_value(2 * std::log(2.0), 2), 0.5, 1e-12);
  EXPECT_NEAR(chi2_p_value(3.841459, 1), 0.05, 1e-7);
  EXPECT_NEAR(chi2_p_value(29.5883, 10), 0.001, 1e-7);
  EXPECT_NEAR(chi2_p_value(0.5, 30), 1.0, 1e-12);
  EXPECT_NEAR(ks_p_value(1.358099 / (std::sqrt(1e8) + 0.12 + 0.11 / std::sqrt(1e8)), 1e8), 0.05, 1e-6);
}

}  // namespace
}  // namespace tms
