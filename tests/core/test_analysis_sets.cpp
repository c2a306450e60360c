// The set classifier (analysis_sets.hpp) on constructed geometries with known answers: E11a's square of two
// orthogonal correlated pairs, E11b's antipodal anticorrelated pairs, E11c's hexagon of side-by-side pairs,
// E13's collapsed pair, an unlearned feature, and E12's exact local bases.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/analysis_sets.hpp"
#include "core/errors.hpp"

namespace tms {
namespace {

std::vector<float> at_angles(const std::vector<double>& degrees, double norm = 1) {
  std::vector<float> W;
  for (double a : degrees) {
    W.push_back(static_cast<float>(norm * std::cos(a * M_PI / 180)));
    W.push_back(static_cast<float>(norm * std::sin(a * M_PI / 180)));
  }
  return W;
}

TEST(SetGeometry, SquareOfOrthogonalCorrelatedPairs) {
  const auto W = at_angles({0, 90, 180, 270});  // sets {0, 1}, {2, 3}
  const set_geometry g = measure_sets(W.data(), 4, 2, 2);
  EXPECT_EQ(g.relation_count[static_cast<int>(pair_relation::orthogonal)], 2);
  EXPECT_NEAR(g.within_max, 0, 1e-6);
  EXPECT_NEAR(g.across_max, 1, 1e-6);  // 0 and 2 are antipodal, across sets
  EXPECT_EQ(g.collapsed_sets, 0);
  EXPECT_NEAR(g.diagonal_min, 1, 1e-6);
}

TEST(SetGeometry, AntipodalAnticorrelatedPairs) {
  const auto W = at_angles({0, 180, 90, 270});
  const set_geometry g = measure_sets(W.data(), 4, 2, 2);
  EXPECT_EQ(g.relation_count[static_cast<int>(pair_relation::antipodal)], 2);
  EXPECT_NEAR(g.across_max, 0, 1e-6);
}

TEST(SetGeometry, HexagonOfSideBySidePairs) {
  const auto W = at_angles({0, 60, 120, 180, 240, 300});
  const set_geometry g = measure_sets(W.data(), 6, 2, 2);
  EXPECT_EQ(g.relation_count[static_cast<int>(pair_relation::side_by_side)], 3);
  EXPECT_NEAR(g.within_max, 0.5, 1e-6);
  // Across sets: 60 degrees (1 and 2), 120, 180 ...
  EXPECT_NEAR(g.across_max, 1, 1e-6);
}

TEST(SetGeometry, CollapsedOpposedAndUnlearned) {
  // Set 0 collapsed onto (a + b) / sqrt 2; set 1 at 135 degrees (opposed); set 2 with an unlearned feature.
  std::vector<float> W = {0.7071f, 0, 0.7071f, 0, 1, 0, -0.7071f, 0.7071f, 0, 1, 0, 0.1f};
  const set_geometry g = measure_sets(W.data(), 6, 2, 2);
  EXPECT_EQ(g.pairs[0][0], pair_relation::collapsed);
  EXPECT_EQ(g.pairs[1][0], pair_relation::opposed);
  EXPECT_EQ(g.pairs[2][0], pair_relation::unlearned);
  EXPECT_EQ(g.collapsed_sets, 1);
  EXPECT_NEAR(g.diagonal_min, 0.5, 1e-4);  // the collapsed features' squared norms
  // The boundaries: cos just inside and outside each threshold.
  for (auto [deg, want] :
       {std::pair{25.0, pair_relation::collapsed}, std::pair{27.0, pair_relation::side_by_side},
        std::pair{72.0, pair_relation::side_by_side}, std::pair{73.0, pair_relation::orthogonal},
        std::pair{107.0, pair_relation::orthogonal}, std::pair{108.0, pair_relation::opposed},
        std::pair{154.0, pair_relation::opposed}, std::pair{155.0, pair_relation::antipodal}}) {
    const auto V = at_angles({0, deg});
    EXPECT_EQ(classify_pair(V.data(), 2, 0, 1), want) << deg << " degrees";
  }
}

TEST(SetGeometry, ExactLocalBases) {
  // Two sets of 3 in m = 3, each an orthonormal basis; the second rotated against the first.
  std::vector<float> W = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0.6f, 0.8f, 0, -0.8f, 0.6f, 0, 0, 0, 1};
  const set_geometry g = measure_sets(W.data(), 6, 3, 3);
  EXPECT_NEAR(g.within_max, 0, 1e-6);
  EXPECT_EQ(g.relation_count[static_cast<int>(pair_relation::orthogonal)], 6);
  EXPECT_NEAR(g.across_max, 1, 1e-6);
  EXPECT_NEAR(g.diagonal_min, 1, 1e-6);
  EXPECT_THROW(measure_sets(W.data(), 6, 3, 4), usage_error);
}

}  // namespace
}  // namespace tms
