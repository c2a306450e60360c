// The ReLU output model's loss split by sparsity pattern (paper §4.2, "Mathematical Understanding"):
//   L = (1-S)^n L_n + ... + (1-S) S^{n-1} L_1 + S^n L_0,
// with L_k the loss on k-sparse inputs summed over the C(n, k) patterns. As S -> 1 only L_1 and L_0 remain:
//   L_1 = sum_i      I_i int_0^1 (x - ReLU(||W_i||^2 x + b_i))^2 dx     feature benefit (not attained)
//       + sum_{i!=j} I_j int_0^1 ReLU(W_j . W_i x + b_j)^2 dx          interference of i on output j
//   L_0 = sum_i I_i ReLU(b_i)^2                                        (the paper omits I_i; §7 erratum 3)
// Exact, not an approximation, for the 0- and 1-sparse inputs: when only x_i is active, x'_i = ReLU(||W_i||^2
// x_i + b_i) and x'_j = ReLU(W_j . W_i x_i + b_j).
//
// Normalisation: the paper's sums over features. The engine's training loss is the mean over features, i.e.
// these divided by n (loss_weighted_mse.hpp). Bias sign: the engine's +b.
#pragma once

#include <cstdint>
#include <vector>

namespace tms {

// A bias b_i below this counts as negative: the ReLU output model's way of cutting off positive interference
// (the ReLU(W_j . W_i x + b_j) of L_1 above). A feature without interference has the optimal bias 0; the
// margin of a hundredth of the unit feature scale keeps the residual of a trained one from counting.
inline constexpr double negative_bias = -0.01;

// int_0^1 (x - ReLU(a x + c))^2 dx, a piecewise quadratic integrated in closed form.
double relu_benefit_integral(double a, double c);
// int_0^1 ReLU(a x + c)^2 dx.
double relu_square_integral(double a, double c);

struct relu_loss_terms {
  double feature_benefit = 0;         // first sum of L_1
  double interference = 0;            // second sum of L_1
  double l1 = 0;                      // feature_benefit + interference
  double feature_benefit_at_one = 0;  // sum_i I_i (1 - ReLU(||W_i||^2 + b_i))^2, the paper's "at x_i = 1"
  double interference_at_one = 0;     // sum_{i!=j} I_j ReLU(W_j . W_i + b_j)^2
  double l0 = 0;                      // sum_i I_i ReLU(b_i)^2
  // E[sum_i I_i (x_i - x'_i)^2 ; at most one feature active] = S^n L_0 + (1-S) S^{n-1} L_1 under the sparse
  // uniform data with density p = 1 - S: the expected loss with the k >= 2 patterns left out, a lower bound
  // on the whole expected loss that it approaches as S -> 1 (the rest is O(p^2)).
  double expected_one_sparse = 0;
};

// For any W [n][m], b [n], importance [n] and density p in (0, 1]. Sums run in double, in a fixed order.
// Throws usage_error for n or m below 1 or p outside (0, 1].
relu_loss_terms relu_loss_decomposition(const float* W, const float* b, const float* importance,
                                        double density, int n, int m);

// The loss of the ReLU output model by activity pattern, for the exact expected loss under non-uniform
// densities (paper E10): entry p of the result [2^n] is the mean over `points` draws of
// sum_i I_i (x_i - x'_i)^2 when exactly the features in the bits of p are active, their values uniform on
// [0, 1). The draws come from the engine's Philox stream (seed, tag evaluation) and are the same for every
// model, so losses of different models compare without sampling noise between them. n is at most 20.
std::vector<double> relu_pattern_losses(const float* W, const float* b, const float* importance, int n, int m,
                                        int points, std::uint64_t seed);

// The expected training loss (the mean over features, like the engine's) from relu_pattern_losses at
// per-feature densities [n]: sum over patterns of P(pattern) table[p] / n.
double expected_loss_from_patterns(const std::vector<double>& table, const double* density, int n);

}  // namespace tms
