// What the paper measures on a trained model (sections "Basic Results", "Feature Dimensionality",
// "Mathematical Understanding"). W is [n][m], row i = the paper's W_i. Sums run in double, in a fixed order.
#pragma once

#include <vector>

#include "core/config.hpp"

namespace tms {

// W_i . W_j of two rows of length m, summed in double in a fixed order (every measurement uses it).
double row_dot(const float* a, const float* b, int m);

// A feature counts as represented when ||W_i|| exceeds this (the paper: ~1 if represented, ~0 if not).
inline constexpr double represented_norm = 0.5;
// A represented feature shares its dimension (is in superposition) when its superposition measure
// sum_{j != i} (W^_i . W_j)^2 exceeds this. An orthogonal feature measures 0 and one of an antipodal pair of
// unit vectors 1; 0.1, one unit-norm neighbour at |cos| ~ 0.32, separates the two with room for the small
// overlaps a trained orthogonal solution keeps.
inline constexpr double superposition_shared = 0.1;

struct instance_metrics {
  std::vector<double> norms;           // [n] ||W_i||
  std::vector<double> superposition;   // [n] sum_{j != i} (W^_i . W_j)^2; 0 for W_i = 0
  std::vector<double> dimensionality;  // [n] D_i = ||W_i||^2 / sum_j (W^_i . W_j)^2; 0 for W_i = 0
  double frobenius_sq = 0;             // ||W||_F^2, the number of features learned
  double dims_per_feature = 0;         // D* = m / ||W||_F^2 (infinite when W = 0)
  int represented = 0;                 // #{i : ||W_i|| > represented_norm}
};

instance_metrics measure(const float* W, int n, int m);

// W^T W as the paper draws it: [n][n], entry (i, j) = W_i . W_j.
std::vector<double> gram(const float* W, int n, int m);

// The linear model's expected loss split as in "Mathematical Understanding" (paper eq. after Saxe et al.),
// exact for the sparse-uniform data: with p the density, mu = p/2 and sigma^2 = p/3 - p^2/4 (the three terms
// below; with per-feature densities the sums weight each j by its own sigma_j^2 and mu_j),
//   E[I_i (x_i - x'_i)^2] = sigma^2 I_i (1 - ||W_i||^2)^2               feature benefit not attained
//                         + sigma^2 I_i sum_{j != i} (W_i . W_j)^2      interference
//                         + I_i (mu (1 - sum_j W_i . W_j) - b_i)^2     mean error, 0 at the optimal bias
// each averaged over the n features like the training loss, so `total` is the expected training loss.
struct linear_loss_terms {
  double feature_benefit = 0;
  double interference = 0;
  double bias = 0;
  double total = 0;
};
linear_loss_terms linear_loss_decomposition(const float* W, const float* b, const float* importance,
                                            double density, int n, int m);
// The same with a density per feature, density [n] (then mu_j and sigma_j^2 differ per feature:
// E[e_i] = sum_j (delta_ij - W_i . W_j) mu_j - b_i, Var[e_i] = sum_j (delta_ij - W_i . W_j)^2 sigma_j^2).
linear_loss_terms linear_loss_decomposition(const float* W, const float* b, const float* importance,
                                            const double* density, int n, int m);

// The loss split reported for a trained instance (metrics.json, Run.loss_decomposition), each term averaged
// over the n features like the training loss, so comparable with it:
//   linear: exact (linear_loss_decomposition): feature_benefit + interference + bias = expected_loss, the
//           expected training loss;
//   relu:   the paper's sparsity split (§4.2, relu_loss_decomposition), which keeps only the inputs with at
//           most one active feature: feature_benefit = (1-S) S^(n-1) x its sum, interference likewise,
//           bias = S^n L_0, and one_sparse_loss = their sum, the expected loss restricted to those inputs: a
//           lower bound, close to the loss as S -> 1 and near 0 at 1 - S = 1 (where no input is that sparse).
// The last term's name says which: "expected_loss" or "one_sparse_loss". relu_hidden has no split yet (its
// hidden ReLU changes every term).
struct loss_split {
  double feature_benefit = 0;
  double interference = 0;
  double bias = 0;
  double total = 0;
  const char* total_name = "expected_loss";
};
// The name of the split's last term for a kind, or null when the kind has no split.
const char* loss_split_total_name(model_kind kind);
// `density` is the instance's; `relative` [n] the per-feature multipliers or empty. The ReLU split assumes
// one density for every feature, so with relative densities it has none; both assume values uniform on
// [0, 1), so signed values have none; both assume independent features, so set data has none. Returns false
// when there is none.
bool reported_loss_split(loss_split& out, model_kind kind, value_distribution values, data_kind data,
                         const float* W, const float* b, const float* importance, double density,
                         const std::vector<double>& relative, int n, int m);
// Whether reported_loss_split gives a split for runs of this configuration.
bool has_loss_split(const train_config& config);

}  // namespace tms
