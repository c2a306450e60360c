// Statistical checks of the set sources (data_sets.hpp, through batch_source): each feature's marginal
// density, co-occurrence within a set and across sets, and the values' mean and variance, for correlated and
// anticorrelated sets under both density conventions, both sampling methods and both value laws. Bounds are
// 6 standard errors (the stream is fixed, so each outcome is deterministic). Also: the tiled layout holds the
// rows layout's batch entry for entry, and the front doors' rules.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/batch_source.hpp"
#include "core/errors.hpp"
#include "core/kernels/tied_fast.hpp"

namespace tms {
namespace {

struct set_case {
  data_kind data;
  set_density rule;
  int n, k;
  double density;
  value_distribution values;
};

std::string name(const set_case& c) {
  return std::string(data_name(c.data)) + " " + std::string(set_density_name(c.rule)) +
         " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " p=" + std::to_string(c.density) + " " +
         std::string(values_name(c.values));
}

train_config config_of(const set_case& c, int B) {
  train_config cfg;
  cfg.features = c.n;
  cfg.data = c.data;
  cfg.set_size = c.k;
  cfg.density_of = c.rule;
  cfg.values = c.values;
  cfg.batch = B;
  cfg.density = {c.density};
  cfg.validate();
  return cfg;
}

// Within `sigmas` standard errors of a proportion p over N draws (never tighter than one count).
void expect_share(double got, double p, double N, const std::string& what) {
  const double se = std::sqrt(std::max(p * (1 - p), 1.0 / N) / N);
  EXPECT_NEAR(got, p, 6 * se) << what;
}

class SetStatistics : public ::testing::TestWithParam<set_case> {};

TEST_P(SetStatistics, MarginalsCooccurrenceAndValues) {
  const set_case c = GetParam();
  const int B = 1000, steps = 60, n = c.n, k = c.k;
  const train_config cfg = config_of(c, B);
  const batch_source source(cfg);
  sparse_batch<float> rows;
  rows.reserve(B, n);
  source.prepare(rows);
  std::vector<double> active(n, 0), sum(n, 0), sum2(n, 0);
  double within = 0, across = 0, values = 0;  // pairs (0, 1) in set 0 and (0, k) across sets 0 and 1
  std::vector<float> dense(n);
  for (int t = 0; t < steps; ++t) {
    source.fill(rows, 42, t, c.density);
    for (int s = 0; s < B; ++s) {
      std::fill(dense.begin(), dense.end(), 0.0f);
      std::vector<char> on(n, 0);
      int prev = -1;
      for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e) {
        const int i = rows.index[e];
        ASSERT_GT(i, prev) << "features ascend within a sample";
        prev = i;
        on[i] = 1;
        dense[i] = rows.value[e];
        const float lo = c.values == value_distribution::uniform ? 0.0f : -1.0f;
        ASSERT_GE(rows.value[e], lo);
        ASSERT_LT(rows.value[e], 1.0f);
      }
      // A set is all zero, all active (correlated) or has exactly one active (anticorrelated).
      for (int j = 0; j < n / k; ++j) {
        int count = 0;
        for (int i = j * k; i < (j + 1) * k; ++i) count += on[i];
        if (c.data == data_kind::correlated)
          ASSERT_TRUE(count == 0 || count == k) << name(c);
        else
          ASSERT_LE(count, 1) << name(c);
      }
      for (int i = 0; i < n; ++i) {
        active[i] += on[i];
        sum[i] += dense[i];
        sum2[i] += static_cast<double>(dense[i]) * dense[i];
      }
      within += on[0] && on[1];
      across += on[0] && on[k];
      values += on[0];
    }
  }
  const double N = static_cast<double>(B) * steps;
  const double q = set_activation(cfg, c.density);
  for (int i = 0; i < n; ++i) {
    const double p = marginal_density(cfg, c.density, i);
    expect_share(active[i] / N, p, N, name(c) + ": marginal of feature " + std::to_string(i));
  }
  const double p0 = marginal_density(cfg, c.density, 0);
  if (c.data == data_kind::correlated)
    expect_share(within / N, q, N, name(c) + ": both of a correlated pair");
  else
    EXPECT_EQ(within, 0) << name(c) << ": an anticorrelated pair never fires together";
  expect_share(across / N, p0 * p0, N, name(c) + ": features of different sets are independent");
  // Values of the active entries of feature 0: mean and variance of U[0, 1) or U[-1, 1).
  const double mean = sum[0] / values, var = sum2[0] / values - mean * mean;
  const double mu = c.values == value_distribution::uniform ? 0.5 : 0.0;
  const double sigma2 = c.values == value_distribution::uniform ? 1.0 / 12 : 1.0 / 3;
  EXPECT_NEAR(mean, mu, 6 * std::sqrt(sigma2 / values)) << name(c);
  // The variance's standard error for a uniform law: sqrt((mu4 - sigma^4) / N), mu4 = 9/5 sigma^4.
  EXPECT_NEAR(var, sigma2, 6 * sigma2 * std::sqrt(0.8 / values)) << name(c);
}

// Both sampling methods (bernoulli at high activation, binomial over many sets at low), both conventions.
INSTANTIATE_TEST_SUITE_P(
    Sources, SetStatistics,
    ::testing::Values(
        set_case{data_kind::correlated, set_density::set, 6, 2, 0.3, value_distribution::uniform},
        set_case{data_kind::correlated, set_density::set, 6, 3, 1.0, value_distribution::signed_uniform},
        set_case{data_kind::correlated, set_density::set, 400, 4, 0.01, value_distribution::uniform},
        set_case{data_kind::anticorrelated, set_density::set, 4, 2, 0.5, value_distribution::uniform},
        set_case{data_kind::anticorrelated, set_density::set, 30, 3, 0.6, value_distribution::signed_uniform},
        set_case{data_kind::anticorrelated, set_density::feature, 4, 2, 0.3, value_distribution::uniform},
        set_case{data_kind::anticorrelated, set_density::feature, 20, 5, 0.2, value_distribution::uniform},
        set_case{data_kind::anticorrelated, set_density::set, 600, 2, 0.02,
                 value_distribution::signed_uniform},
        set_case{data_kind::correlated, set_density::feature, 20, 10, 0.05, value_distribution::uniform}));

TEST(SetSources, BothMethodsAreExercised) {
  for (auto [sets, q, method] :
       {std::tuple{3, 0.3, sampling_method::bernoulli}, std::tuple{100, 0.01, sampling_method::binomial},
        std::tuple{300, 0.02, sampling_method::binomial}}) {
    set_sampler sp;
    sp.reserve(16, sets * 2, 2, false, false);
    sp.set_activation(q);
    EXPECT_EQ(sp.method, method) << sets << " sets at " << q;
  }
}

// The tiled layout is the rows layout's batch, entry for entry, and the next fill clears the last one.
TEST(SetSources, TilesHoldTheRowsBatch) {
  for (const set_case& c :
       {set_case{data_kind::correlated, set_density::set, 6, 2, 0.3, value_distribution::uniform},
        set_case{data_kind::anticorrelated, set_density::set, 40, 4, 0.9, value_distribution::signed_uniform},
        set_case{data_kind::correlated, set_density::set, 400, 4, 0.01, value_distribution::signed_uniform}})
    for (int B : {16, 33, 100}) {
      const train_config cfg = config_of(c, B);
      const batch_source source(cfg);
      sparse_batch<float> rows;
      rows.reserve(B, c.n);
      source.prepare(rows);
      kernels::tied_fast_workspace ws;
      ws.reserve(B, c.n, 5);
      source.prepare(ws);
      for (int t = 0; t < 4; ++t) {
        const double d = t % 2 ? c.density : c.density / 2;  // density changes between fills
        source.fill(rows, 9, t, d);
        source.fill(ws, 9, t, d);
        ASSERT_EQ(ws.last_nnz, rows.nnz());
        for (int s = 0; s < ws.tiles * 16; ++s) {
          std::vector<float> row(c.n, 0.0f);
          if (s < B)
            for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e) row[rows.index[e]] = rows.value[e];
          for (int i = 0; i < c.n; ++i) {
            const float x = ws.X.get()[((s / 16) * static_cast<std::size_t>(c.n) + i) * 16 + s % 16];
            ASSERT_EQ(x, row[i]) << name(c) << " B=" << B << " sample " << s << " feature " << i;
            if (x != 0.0f) {
              ASSERT_TRUE(ws.x_nz[static_cast<std::size_t>(i) * ws.tiles + s / 16]);
            }
          }
        }
      }
    }
}

TEST(SetSources, ConfigRules) {
  train_config c;
  c.features = 6;
  c.data = data_kind::correlated;
  c.set_size = 4;
  EXPECT_THROW(c.validate(), usage_error);  // 4 does not divide 6
  c.set_size = 1;
  EXPECT_THROW(c.validate(), usage_error);
  c.set_size = 3;
  c.validate();
  c.relative_density = std::vector<double>(6, 1.0);
  EXPECT_THROW(c.validate(), usage_error);  // per-feature densities are for independent features
  c.relative_density.clear();
  c.data = data_kind::anticorrelated;
  c.density_of = set_density::feature;
  c.density = {0.5};
  EXPECT_THROW(c.validate(), usage_error);  // a set of 3 would be active with probability 1.5
  c.density = {0.3};
  c.validate();
  EXPECT_DOUBLE_EQ(marginal_density(c, 0.3, 2), 0.3);
  EXPECT_DOUBLE_EQ(set_activation(c, 0.3), 0.3 * 3);
  c.density_of = set_density::set;
  EXPECT_DOUBLE_EQ(marginal_density(c, 0.3, 2), 0.1);
  train_config independent;
  EXPECT_THROW(check_set_options(independent, true, false), usage_error);
  EXPECT_THROW(check_set_options(independent, false, true), usage_error);
  check_set_options(c, true, true);
  try {
    check_set_options(independent, true, false);
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("set_size"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tms
