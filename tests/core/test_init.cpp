// The initial weights: W ~ N(0, std^2) with each scheme's Xavier-normal std, b = 0 (the companion notebook).
// The std of each scheme against PyTorch's fan rule written out here; the sampled W against N(0, std^2) in
// mean, variance, fourth moment, lag-1 correlation and KS distance (bounds of 6 standard errors, fixed
// seeds, so the outcome is deterministic); and what the trainer starts from, read back as the step-0
// snapshot of a run, for every scheme.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/config.hpp"
#include "core/init.hpp"
#include "core/model.hpp"
#include "core/trainer.hpp"

namespace tms {
namespace {

// torch.nn.init._calculate_fan_in_and_fan_out for a 3-D tensor [d0, d1, d2]: fan_in = d1 d2 (size(1) times
// the receptive field, the product of the sizes after the second), fan_out = d0 d2; xavier_normal_'s std is
// sqrt(2 / (fan_in + fan_out)).
double xavier_std_3d(double d0, double d1, double d2) {
  return std::sqrt(2.0 / (d1 * d2 + d0 * d2));
}

// The tensor each scheme is the xavier_normal_ of (config.hpp): the notebook's stacked W [K, n, m],
// ARENA's [K, m, n], and the notebook's for K = 1.
double scheme_std(init_scheme scheme, int n, int m, std::int64_t K) {
  switch (scheme) {
    case init_scheme::reference:
      return xavier_std_3d(static_cast<double>(K), n, m);
    case init_scheme::arena:
      return xavier_std_3d(static_cast<double>(K), m, n);
    case init_scheme::independent:
      return xavier_std_3d(1, n, m);
  }
  return 0;
}

TEST(Init, StdOfEachSchemeIsXavierOfItsLayout) {
  for (int n : {1, 5, 20, 400})
    for (int m : {1, 2, 5, 30})
      for (std::int64_t K : {1, 7, 70, 1000})
        for (init_scheme s : {init_scheme::reference, init_scheme::arena, init_scheme::independent})
          EXPECT_NEAR(init_std(s, n, m, K), scheme_std(s, n, m, K), 1e-15 * scheme_std(s, n, m, K))
              << "n=" << n << " m=" << m << " K=" << K;
  // The three differ where they should: arena swaps the roles of n and m, independent ignores K.
  EXPECT_NEAR(init_std(init_scheme::reference, 20, 5, 7), std::sqrt(2.0 / (5 * 27)), 1e-15);
  EXPECT_NEAR(init_std(init_scheme::arena, 20, 5, 7), std::sqrt(2.0 / (20 * 12)), 1e-15);
  EXPECT_EQ(init_std(init_scheme::independent, 20, 5, 7), init_std(init_scheme::independent, 20, 5, 1000));
  EXPECT_EQ(init_std(init_scheme::reference, 20, 5, 1), init_std(init_scheme::independent, 20, 5, 1));
}

// The standard normal CDF.
double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

TEST(Init, SampledWeightsAreNormalWithTheGivenStd) {
  const int n = 1000, m = 33;  // n m = 33000, not a multiple of the 4 values of a Philox block
  const double sd = 0.37;
  std::vector<double> z;  // W / sd over all seeds
  std::vector<float> params(model_param_count(model_kind::relu_output, n, m));
  double lag1 = 0;
  for (std::uint64_t seed = 0; seed < 32; ++seed) {
    std::fill(params.begin(), params.end(), 1.0f);  // b must be overwritten with 0
    init_params(params.data(), model_kind::relu_output, n, m, seed, sd);
    for (int j = 0; j < n * m; ++j) z.push_back(params[j] / sd);
    for (int j = 0; j + 1 < n * m; ++j) lag1 += static_cast<double>(params[j]) * params[j + 1] / (sd * sd);
    for (int i = 0; i < n; ++i) ASSERT_EQ(params[n * m + i], 0.0f) << "b starts at 0";
  }
  const double N = static_cast<double>(z.size());
  double s1 = 0, s2 = 0, s4 = 0;
  for (double v : z) s1 += v, s2 += v * v, s4 += v * v * v * v;
  // Mean 0 (se 1/sqrt(N)), E[z^2] = 1 (Var[z^2] = 2), E[z^4] = 3 (Var[z^4] = 96): so the sample std is sd
  // within 6 sqrt(2 / N) / 2 = 0.25% here.
  EXPECT_NEAR(s1 / N, 0.0, 6 / std::sqrt(N));
  EXPECT_NEAR(s2 / N, 1.0, 6 * std::sqrt(2 / N));
  EXPECT_NEAR(s4 / N, 3.0, 6 * std::sqrt(96 / N));
  EXPECT_NEAR(lag1 / N, 0.0, 6 / std::sqrt(N));  // neighbours independent
  // KS distance to N(0, 1): P(sqrt(N) D > 1.95) < 0.001.
  std::sort(z.begin(), z.end());
  double D = 0;
  for (std::size_t k = 0; k < z.size(); ++k) {
    const double F = normal_cdf(z[k]);
    D = std::max({D, std::abs(F - static_cast<double>(k) / N), std::abs(F - static_cast<double>(k + 1) / N)});
  }
  EXPECT_LT(std::sqrt(N) * D, 1.95) << "KS distance " << D;
  // Same stream, same weights; another stream, other weights.
  std::vector<float> a(params.size()), b(params.size());
  init_params(a.data(), model_kind::linear, n, m, 5, sd);
  init_params(b.data(), model_kind::linear, n, m, 5, sd);
  EXPECT_EQ(a, b);
  init_params(b.data(), model_kind::linear, n, m, 6, sd);
  EXPECT_NE(a, b);
}

// What training starts from, for every scheme: the step-0 snapshot of a run has W of sample std init_std (the
// scheme's formula above, with K the run's instance count) and b = 0, and each instance's W is
// init_params of its own stream seed (seed + restart: instances that differ only in density share it).
TEST(Init, TrainingStartsFromEachSchemesScale) {
  for (init_scheme scheme : {init_scheme::reference, init_scheme::arena, init_scheme::independent}) {
    train_config c;
    c.model = model_kind::linear;
    c.features = 40;
    c.hidden = 8;
    c.density = {1.0, 0.5, 0.2, 0.1, 0.05};
    c.restarts = 8;  // K = 40, so the three schemes' std are 0.056, 0.032 and 0.078
    c.steps = 1;
    c.batch = 16;
    c.threads = 2;
    c.seed = 11;
    c.init = scheme;
    const train_result r = train(c, {}, {0});
    const auto K = static_cast<std::size_t>(r.K());
    const int n = c.features, m = c.hidden;
    ASSERT_EQ(K, 40u);
    ASSERT_EQ(r.snapshot_step, std::vector<std::int64_t>{0});
    const double expected = scheme_std(scheme, n, m, K);
    EXPECT_NEAR(r.init_std, expected, 1e-15 * expected);
    double s1 = 0, s2 = 0;
    const std::size_t nm = static_cast<std::size_t>(n) * m;
    for (std::size_t j = 0; j < K * nm; ++j)
      s1 += r.snapshots["W"][j], s2 += r.snapshots["W"][j] * r.snapshots["W"][j];
    for (std::size_t j = 0; j < K * n; ++j) ASSERT_EQ(r.snapshots["b"][j], 0.0f) << "b starts at 0";
    // Only the 8 restarts are independent draws (densities share a stream): N = 8 n m = 2560 values.
    const double N = 8.0 * nm;
    const double sample_std = std::sqrt(s2 / (K * nm));
    EXPECT_NEAR(sample_std / expected, 1.0, 6 * std::sqrt(0.5 / N)) << init_name(scheme);
    EXPECT_NEAR(s1 / (K * nm), 0.0, 6 * expected / std::sqrt(N)) << init_name(scheme);
    std::vector<float> params(model_param_count(c.model, n, m));
    for (std::size_t k = 0; k < K; ++k) {
      init_params(params.data(), c.model, n, m, r.stream_seed[k], r.init_std);
      EXPECT_EQ(r.stream_seed[k], c.seed + static_cast<std::uint64_t>(r.instances[k].restart));
      ASSERT_EQ(std::memcmp(params.data(), r.snapshots["W"].data() + k * nm, sizeof(float) * nm), 0)
          << init_name(scheme) << " instance " << k;
    }
  }
}

}  // namespace
}  // namespace tms
