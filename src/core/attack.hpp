// The analytic optimal L2 attack on a tied model x' = act(W^T W x + b) (paper E16, E17), the one home of its
// definition. The attack on feature i moves the input along the i-th row of the Gram matrix G = W W^T
// (G_ij = W_i . W_j in the [n][m] layout): delta = +-lambda G_i / ||G_i||. A feature with G_i = 0 (W_i = 0)
// has no direction: its attack leaves the input as it is. lambda is a multiple of the mean input norm E||x||.
//
// Two users: analysis_adversarial.hpp measures a trained model's vulnerability (each sample's worst feature
// and sign), and adversarial training (E17, train_config::adversarial_training) attacks every training sample
// on a feature drawn at random, with the worse of its two signs, at lambda = the relative norm x the batch's
// mean input norm. Training treats the attacked input as data: no gradient flows through the attack's
// dependence on W (the usual adversarial-training step: the attack is computed, then trained against).
#pragma once

#include <cstdint>
#include <vector>

#include "core/data_sparse.hpp"

namespace tms {

// ||G_i||, the norm of row i of G [n][n]: the attack on feature i exists when it is > 0.
double gram_row_norm(const double* G, int n, int i);

// Scratch for attack_batch, sized once (reserve) and reused every step.
struct attack_workspace {
  std::vector<double> G;              // [n][n] W W^T
  std::vector<double> norm;           // [n] ||G_i||
  std::vector<double> x, h, push, z;  // [n] the clean sample, [m] W x, [m] W^T delta, [n] a pre-activation
  void reserve(int n, int m);
};

// What attack_batch did to the batch, for tests and diagnostics.
struct attack_record {
  double lambda = 0;         // the attack norm: relative_norm x the batch's mean ||x||
  std::vector<int> feature;  // [B] the attacked feature of each sample
  std::vector<int> sign;     // [B] +1 or -1 (0: the feature has no direction)
};

// attacked [B][n] (dense rows written as a sparse batch listing all n entries of every sample; reserved for
// B x n) = x + delta_s for every sample s of the clean batch x: the attack on feature i_s, drawn uniformly
// from the n features by the step's counter-based stream (seed, step, s), with the sign whose attacked output
// act(W^T W (x + delta) + b) has the larger importance-weighted squared error against x (ties: +).
// W [n][m] and b [n] are the model's (float, as trained); `relu`: x' = ReLU(...), else linear. Sums in
// double, in a fixed order. `record`, when given, receives lambda and each sample's choice.
void attack_batch(sparse_batch<float>& attacked, const sparse_batch<float>& x, const float* W, const float* b,
                  const float* importance, int m, bool relu, double relative_norm, std::uint64_t seed,
                  std::int64_t step, attack_workspace& ws, attack_record* record = nullptr);

}  // namespace tms
