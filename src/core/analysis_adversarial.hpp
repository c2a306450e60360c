// Adversarial vulnerability (paper E16): the analytic optimal L2 attack on a tied model x' = act(W^T W x + b)
// and how much more it hurts a model in superposition than one without.
//
// The attack on feature i (attack.hpp, the home of its definition) moves the input along the i-th row of the
// Gram matrix G = W W^T: delta = +-lambda G_i / ||G_i||, lambda = relative_norm x the mean input norm E||x||
// (the paper: 0.1, "the analytic optimal L2 attack for each feature ... the one that most harms model
// performance"). Each sample takes its own worst: both signs of every feature with G_i != 0 are tried on it
// and the one that raises its loss most is kept (the attack is per example, its norm the same for all). The
// loss is the training loss's (mean over samples and features of I_j (x_j - x'_j)^2) against the clean x.
//
// The vulnerability is (L' - L) / (L'_0 - L_0) (the paper's), where L, L' are the model's clean and attacked
// losses and L_0, L'_0 those of the non-superposition reference the paper leaves unnamed; here: the model
// that represents its m most important features each on its own orthonormal direction and drops the rest
// (W_0's rows e_j for the m largest I_j, 0 otherwise; b = 0), the best model without superposition when the
// features are sparse and independent, under the same attack norm, samples and data.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

inline constexpr double adversarial_relative_norm = 0.1;  // the paper's: 0.1 x the average input norm

struct adversarial_result {
  double input_norm = 0;           // E||x|| over the samples
  double attack_norm = 0;          // lambda
  double clean = 0, attacked = 0;  // L, L'
  int feature = -1;                // the attack that is the worst for the most samples: its feature
  int sign = 0;                    // and its sign (+1 or -1)
  double reference_clean = 0, reference_attacked = 0;  // L_0, L'_0
  double vulnerability = 0;                            // (L' - L) / (L'_0 - L_0)
  double features_per_dimension = 0;                   // ||W||_F^2 / m (E16's companion measure)
};

// Per instance of a linear or relu run (the kinds with x' = act(W^T W x + b); others throw usage_error), on
// `samples` samples of the config's data from the evaluation stream of `seed` (evaluate_loss's).
// Bit-identical for any thread count.
std::vector<adversarial_result> adversarial_vulnerability(const train_config& config,
                                                          const std::vector<instance_spec>& instances,
                                                          const model_weights& weights, std::int64_t samples,
                                                          std::uint64_t seed,
                                                          double relative_norm = adversarial_relative_norm);

}  // namespace tms
