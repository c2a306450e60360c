// Neurons of a model with a privileged hidden basis (relu-hidden, paper E18; the abs model, E19-E21): does a
// neuron respond to one feature (monosemantic) or to several (polysemantic), and, in the abs model, which
// neurons compute |x_i| and how features share them (the neuron pairs of E19, the asymmetric motif of E21).
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

// ---- The absolute-value model (E19-E21): h = ReLU(W_in x), y' = ReLU(W_out h + b), target |x|
// ---------------- W_in and W_out are both [n][m]: row i of W_in is feature i's weights into the m neurons
// (so neuron j's input weights are column j, as for W above), row i of W_out the neurons' weights to output
// i. What follows is read off the *gain* of a path, the factor by which x_i reaches output k through neuron j
// while j is active: |W_in_ij| W_out_kj. Gains do not change when a neuron is rescaled (W_in column j times
// a, W_out column j over a: the paper's footnote 15 rescales every neuron so before drawing it), so none of
// the rules depends on how a solution happens to split its scale between the two layers.

// A side of feature i is the set of live neurons whose primary input feature (measure_neurons) is i with one
// sign of W_in_ij: the positive side fires on x_i > 0 (computing ReLU(x_i)), the negative side on x_i < 0
// (ReLU(-x_i)). The side's gain is the sum of its neurons' own-path gains max(0, |W_in_ij| W_out_ij); |x_i| =
// ReLU(x_i) + ReLU(-x_i) needs gain 1 on both sides. A side counts when its gain is at least this: half of
// the exact construction's, so a side split over several neurons (dense features do split) still counts as
// long as together they carry most of ReLU(+-x_i), while a stray small weight does not.
inline constexpr double abs_side_gain = 0.5;

struct abs_sides {
  std::vector<double> positive_gain;       // [n] the positive side's gain
  std::vector<double> negative_gain;       // [n] the negative side's gain
  std::vector<std::vector<int>> positive;  // [n] the positive side's neurons (own-path gain > 0)
  std::vector<std::vector<int>> negative;  // [n] the negative side's
  std::vector<int> paired;                 // [n] 1 when both sides' gains are >= abs_side_gain
  std::vector<int> monosemantic_pair;      // [n] 1 when paired and every neuron of both sides is monosemantic
  int pairs = 0;                           // features with a neuron pair
  int monosemantic_pairs = 0;              // of which every neuron is monosemantic
};

// The E19 motif: the features whose |x_i| is computed by a dedicated positive-side and negative-side neuron
// (or group of neurons) of their own.
abs_sides measure_abs_sides(const float* W_in, const float* W_out, int n, int m);

// The model's response to feature i alone: its output y'_i on the one-hot inputs x = +e_i and x = -e_i (the
// largest |x_i| the data has, every other feature 0) less its output on x = 0, ReLU(b_i), which is what the
// bias alone returns whatever x_i is (a dense feature the model does not compute still gets about the mean
// of |x_i| from b_i). The target's response is 1 for both signs. A feature is computed when both responses
// are at least this, half the target's: the model returns most of |x_i| for either sign.
inline constexpr double abs_computed_output = 0.5;

struct abs_outputs {
  std::vector<double> positive;  // [n] y'_i(+e_i) - y'_i(0)
  std::vector<double> negative;  // [n] y'_i(-e_i) - y'_i(0)
  std::vector<double> zero;      // [n] y'_i(0) = ReLU(b_i)
  int computed = 0;              // features with both responses >= abs_computed_output
};

abs_outputs abs_one_hot_outputs(const float* W_in, const float* W_out, const float* b, int n, int m);

// The asymmetric superposition motif (E21). The paper's example stores two features a, b in one neuron with
// input weights of different magnitudes and opposite signs, W_in = [2, -1/2], and reads them out with
// reciprocal weights, W_out = [1/2, 2]: both paths compute their feature (gains 2 x 1/2 = 1/2 x 2 = 1), b
// interferes little with a (1/2 x 1/2 = 1/4) but a heavily with b (2 x 2 = 4), and a second neuron that fires
// on the same sign of x_a inhibits output b, turning that positive interference negative. The rule, for each
// live neuron j with its two largest input weights a (the strong feature, measure_neurons' primary) and b
// (the secondary):
//   1. b's own path computes b: |W_in_bj| W_out_bj >= asymmetric_path_gain;
//   2. asymmetric: a's interference on b through j, g = |W_in_aj| W_out_bj, is at least asymmetric_ratio
//      times b's interference on a, |W_in_bj| W_out_aj (or that one is <= 0);
//   3. a's own path computes a too: |W_in_aj| W_out_aj >= asymmetric_path_gain (computes_both);
//   4. inhibited: another neuron q that fires on the same sign of x_a (sign W_in_aq = sign W_in_aj) cancels
//      at least inhibition_share of g through its own path to b: -|W_in_aq| W_out_bq >= inhibition_share g.
// 1 and 2 make j an asymmetric neuron; with 3 and 4 it is the paper's motif. A neuron with 1, 2 and 4 but not
// 3 is the one-sided form: it computes b alone, and a (stored more strongly) only interferes, inhibited. The
// paper's weights have opposite signs (the neuron fires on x_a > 0 and on x_b < 0); with signed, symmetric
// inputs the same mechanism works with equal signs, so both are reported and opposite_signs tells them apart.
// Every quantity is a gain, so no rule depends on how a neuron's scale is split between W_in and W_out.
// Symmetric superposition (W_in = [1, -1], W_out = [1, 1]) has ratio 1; the paper's example 16.
inline constexpr double asymmetric_ratio = 4.0;
// A quarter of the gain that computes a feature alone: the path is more than a stray weight.
inline constexpr double asymmetric_path_gain = 0.25;
// One inhibitor cancels at least half of the interference it is there to suppress.
inline constexpr double inhibition_share = 0.5;

struct asymmetric_neuron {
  int neuron = -1;
  int strong = -1;              // a: the largest |W_in_ij| of the neuron
  int weak = -1;                // b: the second largest
  bool opposite_signs = false;  // W_in_aj W_in_bj < 0, as in the paper's example
  double strong_weight = 0;     // W_in_aj
  double weak_weight = 0;       // W_in_bj
  double interference = 0;      // g = |W_in_aj| W_out_bj, a's interference on b through j
  double reverse = 0;           // |W_in_bj| W_out_aj, b's interference on a through j
  double weak_gain = 0;         // |W_in_bj| W_out_bj
  double strong_gain = 0;       // |W_in_aj| W_out_aj
  bool computes_both = false;   // rule 3: strong_gain >= asymmetric_path_gain
  int inhibitor = -1;           // the neuron q that cancels the most of g (when >= inhibition_share g), or -1
  double inhibition = 0;        // the best q's share of g cancelled, -|W_in_aq| W_out_bq / g (whether or not
                                // it reaches inhibition_share; 0 when no other neuron fires with x_a)
  // The whole model's output y'_b on the input x_a = +-1 (the sign that fires j) alone, over g: 0 when the
  // interference a -> b is fully suppressed, 1 when it passes as through j alone.
  double residual = 0;
  bool inhibited() const { return inhibitor >= 0; }
  bool motif() const { return computes_both && inhibited(); }
};

// Every asymmetric neuron (rules 1 and 2), in neuron order, with rules 3 and 4 recorded.
std::vector<asymmetric_neuron> asymmetric_neurons(const float* W_in, const float* W_out, const float* b,
                                                  int n, int m);

}  // namespace tms
