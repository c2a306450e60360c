// The geometry of features in sets (paper E11-E13, E15): how a trained W places the features of one set of
// correlated or anticorrelated features against each other, and whether whole sets collapse.
//
// The paper's ordering of preferences (E11): correlated features go to orthogonal dimensions; failing that,
// side by side (positive interference); failing that, they collapse onto their principal component, a
// collapsed pair a, b being represented by (a + b) / sqrt 2 (E13). Anticorrelated features prefer opposite
// directions, ideally antipodal.
#pragma once

#include <string_view>
#include <vector>

#include "core/analysis_geometry.hpp"
#include "core/metrics.hpp"

namespace tms {

// How two features' directions relate, by c = cos(W_i, W_j) when both are represented:
//   collapsed     c > collapsed: one direction for both (E13's (a + b) / sqrt 2)
//   side_by_side  orthogonal <= c <= collapsed: positive interference (E11c's hexagon neighbours, cos 1/2)
//   orthogonal    |c| < orthogonal
//   opposed       antipodal_pair_cos <= c <= -orthogonal: negative interference short of antipodal
//   antipodal     c < antipodal_pair_cos (analysis_geometry.hpp's -0.9)
//   unlearned     one of the two is not represented (||W|| <= represented)
enum class pair_relation { collapsed, side_by_side, orthogonal, opposed, antipodal, unlearned };
std::string_view pair_relation_name(pair_relation relation);

// The classifier's tolerances, documented defaults. orthogonal 0.3: E11's square puts a correlated pair at
// 90 degrees (cos 0) and its hexagon at 60 (cos 0.5), so 0.3 sits between; collapsed 0.9: the hexagon's
// neighbours are at cos 0.5 and a collapsed pair at 1.
struct set_thresholds {
  double represented = represented_norm;
  double orthogonal = 0.3;
  double collapsed = 0.9;
};

// W [n][m] row-major (row i = W_i).
pair_relation classify_pair(const float* W, int m, int i, int j, const set_thresholds& t = {});

// Every set of k consecutive features of W [n][m] (n a multiple of k): the relations of its pairs, and the
// overlaps W_i . W_j within sets and across them (E12's local bases: W^T W near the identity inside each
// set).
struct set_geometry {
  int sets = 0, set_size = 0;
  std::vector<std::vector<pair_relation>> pairs;  // [sets][k (k - 1) / 2]: (0,1), (0,2), ..., (k-2, k-1)
  std::vector<int> relation_count;                // [6] within-set pairs of each relation (enum order)
  int collapsed_sets = 0;                         // sets whose every pair is collapsed
  double within_max = 0;                          // max |W_i . W_j| over i != j of one set
  double within_mean = 0;                         // mean |W_i . W_j| over those pairs
  double across_max = 0;                          // max |W_i . W_j| over i, j of different sets
  double across_mean = 0;                         // mean over those pairs
  double diagonal_min = 0;  // min ||W_i||^2 over represented features (1 for an exact local basis); 0 if none
};
set_geometry measure_sets(const float* W, int n, int m, int set_size, const set_thresholds& t = {});

}  // namespace tms
