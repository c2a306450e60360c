// The geometry of a trained W (paper E8 "Feature Dimensionality", E9 "Polytopes and low-rank matrices"):
// which features form which polytope, and how the whole embedding splits into tegum factors.
//
// The paper's feature geometry graph (E8): one node per feature, edges weighted by |W_i . W_j|; "two
// subgraphs are disconnected if and only if they are in different tegum factors". A tegum product puts its
// factors in orthogonal subspaces, so there is no interference across factors, and each factor keeps its own
// D_i: a triangular bipyramid is a triangle (3 x 2/3) and a digon (2 x 1/2), not 5 x 3/5.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"

namespace tms {

// The uniform polytopes whose D_i the paper singles out (E8 claim 1), plus a lone orthogonal feature. For k
// unit vectors in isotropic position in R^d (a tight frame) D_i = d/k (E8, §4.5), so each is a (k, D, rank)
// triple:
//   dedicated         1 feature,  D = 1,   rank 1
//   digon             2 features, D = 1/2, rank 1   (antipodal pair)
//   triangle          3 features, D = 2/3, rank 2
//   tetrahedron       4 features, D = 3/4, rank 3
//   pentagon          5 features, D = 2/5, rank 2
//   square_antiprism  8 features, D = 3/8, rank 3
//   other             any factor that matches none of these
enum class polytope_kind { dedicated, digon, triangle, tetrahedron, pentagon, square_antiprism, other };

std::string_view polytope_name(polytope_kind kind);  // "digon", "square antiprism", "other", ...

// Two represented features form an antipodal pair (a digon) when cos(W_i, W_j) is below this. A digon is at
// cos -1; the closest angle of another named polytope is the pentagon's 144 degrees between non-neighbours,
// cos -0.81, so -0.9 tells the two apart. (analysis_phase's classifier asks only that a feature point against
// another, cos <= -0.4, so that the n = 3 triangle, cos -1/2, counts there as superposition.)
inline constexpr double antipodal_pair_cos = -0.9;

// The tolerances of the finder, all documented defaults:
//  * represented:    a feature takes part when ||W_i|| > this (metrics.hpp's 0.5; the paper: ~1 or ~0).
//  * interference:   edge i - j when |W^_i . W^_j| > this. The smallest |cos| inside an ideal factor is 0.138
//                    (square antiprism, between the two squares), then 0.309 (pentagon), 1/3 (tetrahedron),
//                    so 0.1 keeps every ideal factor connected and tolerates cross-factor noise below 0.1.
//  * dimensionality: a factor is named when every D_i is within this of the polytope's fraction. There
//                    is one pattern per size, so 2/5 and 3/8 (0.025 apart) never compete: 5 vs 8 features.
//  * rank:           singular values of a factor's rows below rank x the largest count as 0.
struct geometry_thresholds {
  double represented = represented_norm;
  double interference = 0.1;
  double dimensionality = 0.05;
  double rank = 0.1;
};

struct tegum_factor {
  std::vector<int> features;  // rows of W, ascending
  polytope_kind kind = polytope_kind::other;
  std::string name;  // polytope_name(kind), or "other k-feature" for a factor of k features that matches none
  double mean_dimensionality = 0;  // mean of its D_i (measure(), over the whole W)
  int rank = 0;                    // numerical rank of its rows, the dimension of the subspace it spans
};

struct feature_geometry {
  std::vector<tegum_factor> factors;  // the connected components, ordered by their smallest feature
  std::vector<int> unrepresented;     // features with ||W_i|| <= represented, ascending
  int rank = 0;                       // numerical rank of all represented rows together
  // Sum of the factors' ranks equals `rank`: their subspaces meet only at 0, as a tegum product's do.
  bool independent = true;
};

// The tegum factors of W [n][m]: keep the represented features, join i - j when |W^_i . W^_j| exceeds the
// interference tolerance, take connected components, and name each by its size, its D_i and its rank.
// Throws usage_error for n or m below 1.
feature_geometry geometry_tegum_factors(const float* W, int n, int m, const geometry_thresholds& t = {});

// The number of singular values of A [rows][m] above relative_tol x the largest (0 for A = 0). Computed from
// the eigenvalues of the smaller Gram matrix (A A^T or A^T A) by cyclic Jacobi, in double.
int geometry_rank(const float* A, int rows, int m, double relative_tol);

}  // namespace tms
