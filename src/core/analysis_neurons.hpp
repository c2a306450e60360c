// Neurons of a model with a privileged hidden basis (relu-hidden, paper E18; later the abs model, E19-E21):
// does a neuron respond to one feature (monosemantic) or to several (polysemantic)?
//
// W is [n][m] with row i = feature i's weights into the m neurons, so neuron j's input weight vector is
// column j, w_j = (W_0j, ..., W_{n-1}j). Sums run in double, in a fixed order.
#pragma once

#include <string>
#include <vector>

namespace tms {

// A neuron counts as monosemantic when its largest input weight holds at least this share of its squared
// norm.
inline constexpr double monosemantic_share = 0.9;
// A neuron whose input weights have a norm below this carries no feature (dead).
inline constexpr double dead_neuron_norm = 0.1;

struct neuron_metrics {
  std::vector<double> norm;       // [m] ||w_j||
  std::vector<double> top_share;  // [m] max_i W_ij^2 / ||w_j||^2 (1: one feature; 0 for a dead neuron)
  // [m] features per neuron, the participation ratio ||w_j||^4 / sum_i W_ij^4: 1 for one feature, k for k
  // equal weights (0 for a dead neuron)
  std::vector<double> features;
  std::vector<int> primary;    // [m] the feature with the largest |W_ij| (-1 for a dead neuron)
  std::vector<int> secondary;  // [m] the second largest (-1 when none or dead)
  int monosemantic = 0;        // live neurons with top_share >= monosemantic_share
  int polysemantic = 0;        // live neurons below it
  int dead = 0;                // neurons with ||w_j|| < dead_neuron_norm
};

neuron_metrics measure_neurons(const float* W, int n, int m);

// The paper's named solutions of the n = 10, m = 5 ReLU hidden-layer model (E18's regimes), from the number
// of represented features (||W_i|| > represented_norm) and of monosemantic neurons:
//   5 represented, 5 monosemantic   "all monosemantic neurons"        (1 - S >= ~0.5)
//   6, 3                            "three features in two neurons"   (~0.2 - 0.5)
//   7, 2                            "five features in three neurons"  (~0.15)
//   7, 1                            "six features in four neurons"    (~0.12)
//   8, 0                            "eight features in five neurons"  (~0.05 - 0.08)
//   10, 0                           "features are pairs of neurons"   (<= ~0.04)
// and "other" for any other pair (or other n, m).
std::string privileged_regime(int n, int m, int represented, int monosemantic);

}  // namespace tms
