// The tegum-factor finder (paper E8, E9) on constructed polytopes, their tegum products, rotated and
// perturbed copies, and the cases where the tolerances decide.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/analysis_geometry.hpp"
#include "core/errors.hpp"

#include "weights.hpp"

namespace tms {
namespace {

using testing::flatten;
using testing::rows;

feature_geometry find(const rows& r, const geometry_thresholds& t = {}) {
  const auto W = flatten(r);
  return geometry_tegum_factors(W.data(), static_cast<int>(r.size()), static_cast<int>(r[0].size()), t);
}

// A regular k-gon in the plane of coordinates (x, y) of R^d.
rows polygon(int k, int d = 2, int x = 0, int y = 1, double phase = 0) {
  rows r;
  for (int j = 0; j < k; ++j) {
    std::vector<double> v(d, 0);
    v[x] = std::cos(2 * M_PI * j / k + phase);
    v[y] = std::sin(2 * M_PI * j / k + phase);
    r.push_back(v);
  }
  return r;
}

rows digon(int d, int axis) {
  std::vector<double> v(d, 0);
  v[axis] = 1;
  std::vector<double> w(d, 0);
  w[axis] = -1;
  return {v, w};
}

rows tetrahedron() {
  const double s = 1 / std::sqrt(3.0);
  return {{s, s, s}, {s, -s, -s}, {-s, s, -s}, {-s, -s, s}};
}

rows square_antiprism() {
  // Two squares rotated by 45 degrees at heights +-1/sqrt(3): the isotropic (tight-frame) antiprism.
  rows r;
  const double z = 1 / std::sqrt(3.0), rho = std::sqrt(2.0 / 3);
  for (int j = 0; j < 4; ++j) {
    r.push_back({rho * std::cos(M_PI / 2 * j), rho * std::sin(M_PI / 2 * j), z});
    r.push_back({rho * std::cos(M_PI / 2 * j + M_PI / 4), rho * std::sin(M_PI / 2 * j + M_PI / 4), -z});
  }
  return r;
}

rows concat(rows a, const rows& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void expect_factor(const tegum_factor& f, polytope_kind kind, const std::vector<int>& features, double D,
                   int rank) {
  EXPECT_EQ(f.kind, kind) << f.name;
  EXPECT_EQ(f.name, std::string(polytope_name(kind)));
  EXPECT_EQ(f.features, features) << f.name;
  EXPECT_NEAR(f.mean_dimensionality, D, 1e-5) << f.name;
  EXPECT_EQ(f.rank, rank) << f.name;
}

TEST(AnalysisGeometry, EachUniformPolytopeIsOneNamedFactor) {
  auto g = find(digon(1, 0));
  ASSERT_EQ(g.factors.size(), 1u);
  expect_factor(g.factors[0], polytope_kind::digon, {0, 1}, 0.5, 1);

  g = find(polygon(3));
  ASSERT_EQ(g.factors.size(), 1u);
  expect_factor(g.factors[0], polytope_kind::triangle, {0, 1, 2}, 2.0 / 3, 2);

  g = find(tetrahedron());
  ASSERT_EQ(g.factors.size(), 1u);
  expect_factor(g.factors[0], polytope_kind::tetrahedron, {0, 1, 2, 3}, 0.75, 3);

  g = find(polygon(5));
  ASSERT_EQ(g.factors.size(), 1u);
  expect_factor(g.factors[0], polytope_kind::pentagon, {0, 1, 2, 3, 4}, 0.4, 2);

  g = find(square_antiprism());
  ASSERT_EQ(g.factors.size(), 1u);
  expect_factor(g.factors[0], polytope_kind::square_antiprism, {0, 1, 2, 3, 4, 5, 6, 7}, 3.0 / 8, 3);
  EXPECT_EQ(g.rank, 3);
  EXPECT_TRUE(g.independent);
  EXPECT_TRUE(g.unrepresented.empty());
}

TEST(AnalysisGeometry, OrthogonalFeaturesAreDedicatedFactors) {
  auto g = find({{0, 1, 0}, {1, 0, 0}, {0, 0, 0}, {0, 0, 1}});
  ASSERT_EQ(g.factors.size(), 3u);
  expect_factor(g.factors[0], polytope_kind::dedicated, {0}, 1, 1);
  expect_factor(g.factors[1], polytope_kind::dedicated, {1}, 1, 1);
  expect_factor(g.factors[2], polytope_kind::dedicated, {3}, 1, 1);
  EXPECT_EQ(g.unrepresented, std::vector<int>{2});
  EXPECT_EQ(g.rank, 3);
}

TEST(AnalysisGeometry, TriangularBipyramidIsTriangleAndDigon) {
  // E8: "3 x 2/3 features and 2 x 1/2 features, rather than 5 x 3/5".
  auto g = find(concat(polygon(3, 3), digon(3, 2)));
  ASSERT_EQ(g.factors.size(), 2u);
  expect_factor(g.factors[0], polytope_kind::triangle, {0, 1, 2}, 2.0 / 3, 2);
  expect_factor(g.factors[1], polytope_kind::digon, {3, 4}, 0.5, 1);
  EXPECT_EQ(g.rank, 3);
  EXPECT_TRUE(g.independent);
}

TEST(AnalysisGeometry, PentagonalBipyramidIsPentagonAndDigon) {
  // The digon first, so factor order follows the smallest feature index.
  auto g = find(concat(digon(3, 2), polygon(5, 3)));
  ASSERT_EQ(g.factors.size(), 2u);
  expect_factor(g.factors[0], polytope_kind::digon, {0, 1}, 0.5, 1);
  expect_factor(g.factors[1], polytope_kind::pentagon, {2, 3, 4, 5, 6}, 0.4, 2);
  EXPECT_TRUE(g.independent);
}

TEST(AnalysisGeometry, OctahedronIsThreeDigons) {
  // Rows +x, +y, +z, -x, -y, -z: the antipodes are three apart.
  auto g = find({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {-1, 0, 0}, {0, -1, 0}, {0, 0, -1}});
  ASSERT_EQ(g.factors.size(), 3u);
  expect_factor(g.factors[0], polytope_kind::digon, {0, 3}, 0.5, 1);
  expect_factor(g.factors[1], polytope_kind::digon, {1, 4}, 0.5, 1);
  expect_factor(g.factors[2], polytope_kind::digon, {2, 5}, 0.5, 1);
  EXPECT_EQ(g.rank, 3);
  EXPECT_TRUE(g.independent);
}

TEST(AnalysisGeometry, SquareIsTwoDigons) {
  // E9: W ⊥ (1,0,1,0) and W ⊥ (0,1,0,1); a square is not a 4-gon factor.
  auto g = find(polygon(4));
  ASSERT_EQ(g.factors.size(), 2u);
  expect_factor(g.factors[0], polytope_kind::digon, {0, 2}, 0.5, 1);
  expect_factor(g.factors[1], polytope_kind::digon, {1, 3}, 0.5, 1);
}

// A random rotation of R^d (Gram-Schmidt on Gaussian columns): the model is invariant under W -> O W (§1.6).
std::vector<std::vector<double>> random_rotation(int d, std::mt19937& gen) {
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> Q(d, std::vector<double>(d));
  for (auto& q : Q)
    for (double& v : q) v = normal(gen);
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j < i; ++j) {
      double proj = 0;
      for (int k = 0; k < d; ++k) proj += Q[i][k] * Q[j][k];
      for (int k = 0; k < d; ++k) Q[i][k] -= proj * Q[j][k];
    }
    double norm = 0;
    for (double v : Q[i]) norm += v * v;
    for (double& v : Q[i]) v /= std::sqrt(norm);
  }
  return Q;
}

rows rotate_and_perturb(const rows& r, std::mt19937& gen, double noise, double scale = 1) {
  const int d = static_cast<int>(r[0].size());
  const auto Q = random_rotation(d, gen);
  std::normal_distribution<double> normal(0, noise);
  rows out;
  for (const auto& row : r) {
    std::vector<double> v(d, 0);
    for (int a = 0; a < d; ++a)
      for (int k = 0; k < d; ++k) v[a] += Q[a][k] * row[k];
    for (double& x : v) x = scale * x + normal(gen);
    out.push_back(v);
  }
  return out;
}

TEST(AnalysisGeometry, RotatedPerturbedShuffledPolytopesKeepTheirFactors) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 20; ++trial) {
    // Triangle + digon with noise 0.015 per coordinate, norms 0.9: cross-factor |cos| stays below 0.1 and
    // every D_i within 0.05 of its fraction.
    rows r = rotate_and_perturb(concat(polygon(3, 3), digon(3, 2)), gen, 0.015, 0.9);
    // Shuffle the features: the factors are found by index, wherever they sit.
    const std::vector<int> order = {3, 0, 4, 2, 1};  // new row t holds old feature order[t]
    rows shuffled;
    for (int t : order) shuffled.push_back(r[t]);
    auto g = find(shuffled);
    ASSERT_EQ(g.factors.size(), 2u) << "trial " << trial;
    EXPECT_EQ(g.factors[0].kind, polytope_kind::digon);
    EXPECT_EQ(g.factors[0].features, (std::vector<int>{0, 2}));
    EXPECT_NEAR(g.factors[0].mean_dimensionality, 0.5, 0.05);
    EXPECT_EQ(g.factors[1].kind, polytope_kind::triangle);
    EXPECT_EQ(g.factors[1].features, (std::vector<int>{1, 3, 4}));
    EXPECT_NEAR(g.factors[1].mean_dimensionality, 2.0 / 3, 0.05);
    EXPECT_EQ(g.factors[1].rank, 2);
    EXPECT_TRUE(g.independent);

    auto a = find(rotate_and_perturb(square_antiprism(), gen, 0.01));
    ASSERT_EQ(a.factors.size(), 1u);
    EXPECT_EQ(a.factors[0].kind, polytope_kind::square_antiprism) << "D " << a.factors[0].mean_dimensionality;
  }
}

TEST(AnalysisGeometry, UnrepresentedFeaturesAreLeftOut) {
  // A pentagon plus two weak features (norm 0.3 < 0.5) that would otherwise join it.
  rows r = polygon(5);
  r.push_back({0.3, 0});
  r.push_back({0, -0.2});
  auto g = find(r);
  EXPECT_EQ(g.unrepresented, (std::vector<int>{5, 6}));
  ASSERT_EQ(g.factors.size(), 1u);
  EXPECT_EQ(g.factors[0].kind, polytope_kind::pentagon);  // D_i move by ~0.02 at most
  EXPECT_EQ(g.factors[0].features, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(AnalysisGeometry, UnnamedShapesAreOther) {
  // A hexagon (D = 2/6) is not among the paper's lines.
  auto g = find(polygon(6));
  ASSERT_EQ(g.factors.size(), 1u);
  EXPECT_EQ(g.factors[0].kind, polytope_kind::other);
  EXPECT_EQ(g.factors[0].name, "other 6-feature");
  EXPECT_NEAR(g.factors[0].mean_dimensionality, 1.0 / 3, 1e-5);

  // A triangle with one vertex moved by 25 degrees: still three features in a plane, but D_i no longer 2/3.
  rows t = polygon(3);
  t[0] = {std::cos(25 * M_PI / 180), std::sin(25 * M_PI / 180)};
  g = find(t);
  ASSERT_EQ(g.factors.size(), 1u);
  EXPECT_EQ(g.factors[0].name, "other 3-feature");
  EXPECT_EQ(g.factors[0].rank, 2);
}

TEST(AnalysisGeometry, InterferenceToleranceDecidesTheFactors) {
  // Two triangles in orthogonal planes of R^4, tilted so that features 0 and 3 overlap by |cos| = 0.05.
  rows r = concat(polygon(3, 4, 0, 1), polygon(3, 4, 2, 3));
  const double e = 0.05;
  r[3] = {e, 0, std::sqrt(1 - e * e), 0};
  auto g = find(r);
  ASSERT_EQ(g.factors.size(), 2u);
  EXPECT_EQ(g.factors[0].kind, polytope_kind::triangle);
  EXPECT_EQ(g.factors[1].kind, polytope_kind::triangle);
  g = find(r, {.interference = 0.01});  // the small overlap now joins them
  ASSERT_EQ(g.factors.size(), 1u);
  EXPECT_EQ(g.factors[0].name, "other 6-feature");
  EXPECT_EQ(g.factors[0].rank, 4);

  // A tolerance above the true overlaps splits factors that share a subspace: a hexagon is three digons at
  // 60 degrees (|cos| 1/2). With 0.6 they separate, their ranks add to 3 in a plane of rank 2, and the split
  // is flagged as not a tegum product; each digon's D_i = 1/3, not 1/2, so none is named.
  g = find(polygon(6), {.interference = 0.6});
  ASSERT_EQ(g.factors.size(), 3u);
  EXPECT_EQ(g.factors[0].features, (std::vector<int>{0, 3}));
  EXPECT_EQ(g.factors[0].name, "other 2-feature");
  EXPECT_EQ(g.factors[0].rank, 1);
  EXPECT_EQ(g.rank, 2);
  EXPECT_FALSE(g.independent);
}

TEST(AnalysisGeometry, NumericalRank) {
  const std::vector<float> I3 = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(geometry_rank(I3.data(), 3, 3, 0.1), 3);
  const std::vector<float> outer = {1, 2, 3, 2, 4, 6, -1, -2, -3, 0.5f, 1, 1.5f};  // 4 x 3, rank 1
  EXPECT_EQ(geometry_rank(outer.data(), 4, 3, 0.1), 1);
  const std::vector<float> wide = {1, 0, 0, 0, 0, 0.05f, 0, 0};  // 2 x 4: singular values 1 and 0.05
  EXPECT_EQ(geometry_rank(wide.data(), 2, 4, 0.1), 1);
  EXPECT_EQ(geometry_rank(wide.data(), 2, 4, 0.01), 2);
  const std::vector<float> zero(6, 0);
  EXPECT_EQ(geometry_rank(zero.data(), 2, 3, 0.1), 0);
  // A pentagon in R^3, rows > m: rank 2.
  const auto pentagon = flatten(polygon(5, 3));
  EXPECT_EQ(geometry_rank(pentagon.data(), 5, 3, 0.1), 2);
}

TEST(AnalysisGeometry, BadSizesThrow) {
  const std::vector<float> W = {1};
  EXPECT_THROW(geometry_tegum_factors(W.data(), 0, 1), usage_error);
  EXPECT_THROW(geometry_tegum_factors(W.data(), 1, 0), usage_error);
}

}  // namespace
}  // namespace tms
