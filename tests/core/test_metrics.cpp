// The measurements on constructed geometries whose values the paper states (section "Feature
// Dimensionality"), and the linear model's loss decomposition against a Monte Carlo estimate from the
// engine's own generator.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/data_sparse.hpp"
#include "core/metrics.hpp"
#include "core/model.hpp"
#include "monte_carlo.hpp"
#include "weights.hpp"

namespace tms {
namespace {

using testing::flatten;
using testing::rows;

instance_metrics measure_rows(const rows& r) {
  const auto W = flatten(r);
  return measure(W.data(), static_cast<int>(r.size()), static_cast<int>(r[0].size()));
}

rows polygon(int k, double radius = 1) {
  rows r;
  for (int j = 0; j < k; ++j)
    r.push_back({radius * std::cos(2 * M_PI * j / k), radius * std::sin(2 * M_PI * j / k)});
  return r;
}

void expect_all(const std::vector<double>& v, double value, double tol = 1e-6) {
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], value, tol) << "feature " << i;
}

TEST(Metrics, OrthogonalFeaturesHaveDimensionalityOne) {
  auto mt = measure_rows({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}});
  expect_all(mt.dimensionality, 1);
  expect_all(mt.superposition, 0);
  expect_all(mt.norms, 1);
  EXPECT_NEAR(mt.frobenius_sq, 3, 1e-6);
  EXPECT_NEAR(mt.dims_per_feature, 1, 1e-6);
  EXPECT_EQ(mt.represented, 3);
}

TEST(Metrics, AntipodalPairIsOneHalf) {
  auto mt = measure_rows({{1}, {-1}});
  expect_all(mt.dimensionality, 0.5);
  expect_all(mt.superposition, 1);  // the other feature activates W_i as strongly as feature i itself
  EXPECT_NEAR(mt.dims_per_feature, 0.5, 1e-6);
}

TEST(Metrics, TriangleIsTwoThirds) {
  auto mt = measure_rows(polygon(3));
  expect_all(mt.dimensionality, 2.0 / 3);
  expect_all(mt.superposition, 0.5);
}

TEST(Metrics, PentagonIsTwoFifths) {
  auto mt = measure_rows(polygon(5));
  expect_all(mt.dimensionality, 2.0 / 5);
  expect_all(mt.superposition, 1.5);
  EXPECT_NEAR(mt.dims_per_feature, 0.4, 1e-6);
}

TEST(Metrics, TetrahedronIsThreeQuarters) {
  const double s = 1 / std::sqrt(3.0);
  auto mt = measure_rows({{s, s, s}, {s, -s, -s}, {-s, s, -s}, {-s, -s, s}});
  expect_all(mt.dimensionality, 0.75);
  expect_all(mt.superposition, 1.0 / 3);
}

TEST(Metrics, SquareAntiprismIsThreeEighths) {
  // Two squares rotated by 45 degrees at heights +-cos(phi) with cos^2(phi) = 1/3 (an isotropic frame).
  rows r;
  const double z = 1 / std::sqrt(3.0), rho = std::sqrt(2.0 / 3);
  for (int j = 0; j < 4; ++j) {
    r.push_back({rho * std::cos(M_PI / 2 * j), rho * std::sin(M_PI / 2 * j), z});
    r.push_back({rho * std::cos(M_PI / 2 * j + M_PI / 4), rho * std::sin(M_PI / 2 * j + M_PI / 4), -z});
  }
  auto mt = measure_rows(r);
  expect_all(mt.dimensionality, 3.0 / 8);
  EXPECT_NEAR(mt.dims_per_feature, 3.0 / 8, 1e-6);
}

TEST(Metrics, UnlearnedFeatureIsZero) {
  auto mt = measure_rows({{1, 0}, {0, 1}, {0, 0}});
  EXPECT_EQ(mt.dimensionality[2], 0);
  EXPECT_EQ(mt.superposition[2], 0);
  EXPECT_EQ(mt.norms[2], 0);
  EXPECT_NEAR(mt.dimensionality[0], 1, 1e-6);
  EXPECT_EQ(mt.represented, 2);
}

TEST(Metrics, TegumProductOfTriangleAndDigon) {
  // Triangular bipyramid: a triangle in the xy-plane and an antipodal pair on z: 3 x 2/3 + 2 x 1/2.
  rows r = polygon(3);
  for (auto& row : r) row.push_back(0);
  r.push_back({0, 0, 1});
  r.push_back({0, 0, -1});
  auto mt = measure_rows(r);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(mt.dimensionality[i], 2.0 / 3, 1e-6);
  for (int i = 3; i < 5; ++i) EXPECT_NEAR(mt.dimensionality[i], 0.5, 1e-6);
  double sum = 0;
  for (double d : mt.dimensionality) sum += d;
  EXPECT_NEAR(sum, 3, 1e-6);  // sum_i D_i = m for efficient packings
}

TEST(Metrics, ScaleInvariantDimensionalityAndRepresentedThreshold) {
  auto mt = measure_rows(polygon(5, 0.4));
  expect_all(mt.dimensionality, 0.4);
  expect_all(mt.norms, 0.4);
  EXPECT_EQ(mt.represented, 0);  // ||W_i|| = 0.4 is below the 0.5 threshold
}

TEST(Metrics, GramIsWTransposeW) {
  const std::vector<float> W = {1, 2, 3, 4, 5, 6};  // n = 3, m = 2
  auto G = gram(W.data(), 3, 2);
  EXPECT_DOUBLE_EQ(G[0 * 3 + 1], 1 * 3 + 2 * 4);
  EXPECT_DOUBLE_EQ(G[2 * 3 + 2], 25 + 36);
  EXPECT_DOUBLE_EQ(G[1 * 3 + 2], G[2 * 3 + 1]);
}

// The decomposition's total is the expected training loss of the linear model: compare it with the mean loss
// over many batches from the generator.
TEST(Metrics, LinearLossDecompositionMatchesMonteCarlo) {
  const int n = 9, m = 3, B = 4096, steps = 40;
  std::mt19937 gen(3);
  std::normal_distribution<double> normal(0, 0.5);
  std::vector<float> params(model_param_count(model_kind::linear, n, m)), importance(n);
  for (auto& v : params) v = static_cast<float>(normal(gen));
  for (int i = 0; i < n; ++i) importance[i] = static_cast<float>(std::pow(0.8, i));
  for (double p : {1.0, 0.3, 0.05}) {
    const auto terms =
        linear_loss_decomposition(params.data(), params.data() + n * m, importance.data(), p, n, m);
    EXPECT_NEAR(terms.total, terms.feature_benefit + terms.interference + terms.bias, 1e-12);
    const auto mc = testing::monte_carlo_loss(model_kind::linear, params, importance, n, m, B, steps, p, 99);
    EXPECT_NEAR(mc.mean, terms.total, 5 * mc.se) << "density " << p;
  }
}

TEST(Metrics, LinearLossDecompositionWithPerFeatureDensities) {
  const int n = 5, m = 2, B = 4096, steps = 40;
  std::mt19937 gen(4);
  std::normal_distribution<double> normal(0, 0.5);
  std::vector<float> params(model_param_count(model_kind::linear, n, m)), importance(n, 1.0f);
  for (auto& v : params) v = static_cast<float>(normal(gen));
  const std::vector<double> relative = {1, 3, 0.2, 1, 10};
  const double p = 0.15;
  std::vector<double> density(n);
  for (int i = 0; i < n; ++i) density[i] = std::min(1.0, p * relative[i]);
  const auto terms = linear_loss_decomposition(params.data(), params.data() + n * m, importance.data(),
                                               density.data(), n, m);
  const auto mc =
      testing::monte_carlo_loss(model_kind::linear, params, importance, n, m, B, steps, p, 7, relative);
  EXPECT_NEAR(mc.mean, terms.total, 5 * mc.se);
}

TEST(Metrics, OptimalBiasMakesTheBiasTermVanish) {
  // Top-2 features of n = 4 learned orthogonally; b_i = mu for the unlearned ones, 0 for the learned.
  const std::vector<float> W = {1, 0, 0, 1, 0, 0, 0, 0}, I = {1, 0.7f, 0.49f, 0.343f};
  const double p = 0.2;
  const std::vector<float> b = {0, 0, static_cast<float>(p / 2), static_cast<float>(p / 2)};
  auto t = linear_loss_decomposition(W.data(), b.data(), I.data(), p, 4, 2);
  EXPECT_NEAR(t.bias, 0, 1e-12);
  EXPECT_NEAR(t.interference, 0, 1e-12);
  EXPECT_NEAR(t.feature_benefit, (p / 3 - p * p / 4) * (0.49 + 0.343) / 4, 1e-8);
}

}  // namespace
}  // namespace tms
