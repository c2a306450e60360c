// Neuron measurements on constructed weights, where every value is known exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/analysis_neurons.hpp"
#include "core/errors.hpp"

namespace tms {
namespace {

TEST(Neurons, ExactValuesOnConstructedWeights) {
  // W [n = 4][m = 4], row i = feature i's weights into the neurons. Neuron 0: feature 2 alone (weight -2);
  // neuron 1: features 0 and 3 equally; neuron 2: features 0, 1, 2 equally; neuron 3: dead (norm 0.05).
  const float W[4 * 4] = {0,  1,  1,  0.05f,  // feature 0
                          0,  0,  1,  0,      // feature 1
                          -2, 0,  -1, 0,      // feature 2
                          0,  -1, 0,  0};     // feature 3
  const neuron_metrics t = measure_neurons(W, 4, 4);
  EXPECT_DOUBLE_EQ(t.norm[0], 2);
  EXPECT_DOUBLE_EQ(t.top_share[0], 1);
  EXPECT_DOUBLE_EQ(t.features[0], 1);
  EXPECT_EQ(t.primary[0], 2);
  EXPECT_EQ(t.secondary[0], -1);
  EXPECT_DOUBLE_EQ(t.top_share[1], 0.5);
  EXPECT_DOUBLE_EQ(t.features[1], 2);
  EXPECT_EQ(t.primary[1], 0);
  EXPECT_EQ(t.secondary[1], 3);
  EXPECT_NEAR(t.top_share[2], 1.0 / 3, 1e-15);
  EXPECT_NEAR(t.features[2], 3, 1e-12);
  EXPECT_NEAR(t.norm[3], 0.05, 1e-8);
  EXPECT_EQ(t.primary[3], -1);
  EXPECT_DOUBLE_EQ(t.top_share[3], 0);
  EXPECT_EQ(t.monosemantic, 1);
  EXPECT_EQ(t.polysemantic, 2);
  EXPECT_EQ(t.dead, 1);
}

TEST(Neurons, TheMonosemanticThresholdIsInclusive) {
  // Shares 0.9 exactly and just below: w = (3, 1) has 9 / 10; (3, 1.01) a little less.
  const float on[2 * 1] = {3, 1}, off[2 * 1] = {3, 1.01f};
  EXPECT_EQ(measure_neurons(on, 2, 1).monosemantic, 1);
  EXPECT_EQ(measure_neurons(off, 2, 1).monosemantic, 0);
  EXPECT_THROW(measure_neurons(on, 0, 1), usage_error);
}

TEST(Neurons, PrivilegedRegimesFollowThePaper) {
  EXPECT_EQ(privileged_regime(10, 5, 5, 5), "all monosemantic neurons");
  EXPECT_EQ(privileged_regime(10, 5, 6, 3), "three features in two neurons");
  EXPECT_EQ(privileged_regime(10, 5, 7, 2), "five features in three neurons");
  EXPECT_EQ(privileged_regime(10, 5, 7, 1), "six features in four neurons");
  EXPECT_EQ(privileged_regime(10, 5, 8, 0), "eight features in five neurons");
  EXPECT_EQ(privileged_regime(10, 5, 10, 0), "features are pairs of neurons");
  EXPECT_EQ(privileged_regime(10, 5, 9, 0), "other");
  EXPECT_EQ(privileged_regime(20, 5, 5, 5), "other");
}

// ---- The absolute-value model ----------------------------------------------------------------------------

// The paper's E19 construction for n = 3, m = 6: neuron 2i is ReLU(x_i), neuron 2i + 1 is ReLU(-x_i), both
// read out into y'_i with weight 1, so y' = |x| exactly.
std::vector<float> pairs_in() {
  std::vector<float> W(3 * 6, 0.0f);
  for (int i = 0; i < 3; ++i) W[i * 6 + 2 * i] = 1, W[i * 6 + 2 * i + 1] = -1;
  return W;
}
std::vector<float> pairs_out() {
  std::vector<float> W(3 * 6, 0.0f);
  for (int i = 0; i < 3; ++i) W[i * 6 + 2 * i] = W[i * 6 + 2 * i + 1] = 1;
  return W;
}

TEST(Neurons, AbsPairsOfTheExactConstruction) {
  const auto W_in = pairs_in(), W_out = pairs_out();
  const abs_sides t = measure_abs_sides(W_in.data(), W_out.data(), 3, 6);
  EXPECT_EQ(t.pairs, 3);
  EXPECT_EQ(t.monosemantic_pairs, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(t.positive_gain[i], 1);
    EXPECT_DOUBLE_EQ(t.negative_gain[i], 1);
    EXPECT_EQ(t.positive[i], std::vector<int>{2 * i});
    EXPECT_EQ(t.negative[i], std::vector<int>{2 * i + 1});
  }
  const float b[3] = {0, 0, 0};
  const abs_outputs y = abs_one_hot_outputs(W_in.data(), W_out.data(), b, 3, 6);
  EXPECT_EQ(y.computed, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(y.positive[i], 1);
    EXPECT_DOUBLE_EQ(y.negative[i], 1);
  }
  // The rescaling of footnote 15 (W_in column x 4, W_out column / 4) changes no gain.
  auto in4 = W_in, out4 = W_out;
  for (int i = 0; i < 3; ++i) in4[i * 6] *= 4, out4[i * 6] /= 4;
  EXPECT_DOUBLE_EQ(measure_abs_sides(in4.data(), out4.data(), 3, 6).positive_gain[0], 1);
}

TEST(Neurons, AbsSidesSplitWeakOrPolysemantic) {
  auto W_in = pairs_in(), W_out = pairs_out();
  // Feature 0's positive side split over neurons 0 and 2 (the latter taken from feature 1), each of gain
  // 0.5 x 0.5 = 0.25: together 0.5, exactly the threshold, so still a pair.
  W_in[0 * 6 + 0] = 0.5f, W_out[0 * 6 + 0] = 0.5f;
  W_in[1 * 6 + 2] = 0, W_out[1 * 6 + 2] = 0, W_in[0 * 6 + 2] = 0.5f, W_out[0 * 6 + 2] = 0.5f;
  // Feature 2's negative side reads out only 0.4: no pair. Feature 1 has lost its positive neuron.
  W_out[2 * 6 + 5] = 0.4f;
  abs_sides t = measure_abs_sides(W_in.data(), W_out.data(), 3, 6);
  EXPECT_DOUBLE_EQ(t.positive_gain[0], 0.5);
  EXPECT_EQ(t.positive[0], (std::vector<int>{0, 2}));
  EXPECT_DOUBLE_EQ(t.positive_gain[1], 0);
  EXPECT_NEAR(t.negative_gain[2], 0.4, 1e-7);
  EXPECT_EQ(t.paired, (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(t.pairs, 1);
  EXPECT_EQ(t.monosemantic_pairs, 1);
  // A second, smaller input weight on neuron 1 (feature 0's negative side) makes it polysemantic (top share
  // 1 / 1.25 < 0.9): still a pair, no longer a monosemantic one.
  W_in[2 * 6 + 1] = 0.5f;
  t = measure_abs_sides(W_in.data(), W_out.data(), 3, 6);
  EXPECT_EQ(t.pairs, 1);
  EXPECT_EQ(t.monosemantic_pairs, 0);
  // A neuron that fires on x_0 but reads out negatively into y'_0 is no part of the side.
  W_out[0 * 6 + 2] = -0.5f;
  t = measure_abs_sides(W_in.data(), W_out.data(), 3, 6);
  EXPECT_EQ(t.positive[0], std::vector<int>{0});
  EXPECT_EQ(t.pairs, 0);
  EXPECT_THROW(measure_abs_sides(W_in.data(), W_out.data(), 0, 6), usage_error);
}

TEST(Neurons, AbsOneHotOutputsUseTheBias) {
  // n = 1, m = 2, b = -0.5: y'(+e) = ReLU(2 x 1 - 0.5) = 1.5, y'(-e) = ReLU(0.25 x 1 - 0.5) = 0, y'(0) = 0:
  // not computed (the negative side is missing).
  const float W_in[2] = {1, -1}, W_out[2] = {2, 0.25f}, b[1] = {-0.5f};
  abs_outputs y = abs_one_hot_outputs(W_in, W_out, b, 1, 2);
  EXPECT_DOUBLE_EQ(y.positive[0], 1.5);
  EXPECT_DOUBLE_EQ(y.negative[0], 0);
  EXPECT_DOUBLE_EQ(y.zero[0], 0);
  EXPECT_EQ(y.computed, 0);
  // A feature the model leaves to its bias (no weights, b = 0.5, the mean of |x| for dense values) returns
  // 0.5 for every x: a response of 0, not computed.
  const float none_in[2] = {0, 0}, none_out[2] = {0, 0}, half[1] = {0.5f};
  y = abs_one_hot_outputs(none_in, none_out, half, 1, 2);
  EXPECT_DOUBLE_EQ(y.zero[0], 0.5);
  EXPECT_DOUBLE_EQ(y.positive[0], 0);
  EXPECT_EQ(y.computed, 0);
  // Both sides at gain 0.75 over a bias of 0.25: responses 0.75 each, computed.
  const float both_in[2] = {1, -1}, both_out[2] = {0.75f, 0.75f}, quarter[1] = {0.25f};
  y = abs_one_hot_outputs(both_in, both_out, quarter, 1, 2);
  EXPECT_DOUBLE_EQ(y.positive[0], 0.75);
  EXPECT_DOUBLE_EQ(y.negative[0], 0.75);
  EXPECT_EQ(y.computed, 1);
}

// Features a = 0, b = 1 in m = 4 neurons. Neuron 0 is the paper's asymmetric neuron: W_in = [2, -1/2],
// W_out = [1/2, 2]. Neuron 1 fires on x_a > 0 and inhibits y'_b with weight -4 (W_in_a1 = 1). Neuron 2 is
// symmetric superposition, W_in = [1, -1], W_out = [1, 1]. Neuron 3 is dead.
struct motif_weights {
  std::vector<float> W_in = {2,     1, 1,  0,   // feature a
                             -0.5f, 0, -1, 0};  // feature b
  std::vector<float> W_out = {0.5f, 0,  1, 0,   // into y'_a
                              2,    -4, 1, 0};  // into y'_b
  std::vector<float> b = {0, 0};
  std::vector<asymmetric_neuron> find() const {
    return asymmetric_neurons(W_in.data(), W_out.data(), b.data(), 2, 4);
  }
};

TEST(Neurons, TheAsymmetricMotifOfThePaper) {
  motif_weights w;
  const auto found = w.find();
  ASSERT_EQ(found.size(), 1u);  // the symmetric neuron 2 (ratio 1) and the single-weight neuron 1 are not
  const asymmetric_neuron& t = found[0];
  EXPECT_EQ(t.neuron, 0);
  EXPECT_EQ(t.strong, 0);
  EXPECT_EQ(t.weak, 1);
  EXPECT_TRUE(t.opposite_signs);
  EXPECT_DOUBLE_EQ(t.interference, 4);
  EXPECT_DOUBLE_EQ(t.reverse, 0.25);
  EXPECT_DOUBLE_EQ(t.weak_gain, 1);
  EXPECT_DOUBLE_EQ(t.strong_gain, 1);
  EXPECT_TRUE(t.computes_both);
  EXPECT_EQ(t.inhibitor, 1);
  EXPECT_DOUBLE_EQ(t.inhibition, 1);
  // y'_b(x_a = 1) = ReLU(2 x 2 - 4 x 1 + 1 x 1) = 1 (the symmetric neuron 2 also fires on x_a > 0): 1 / 4.
  EXPECT_DOUBLE_EQ(t.residual, 0.25);
  EXPECT_TRUE(t.motif());
}

TEST(Neurons, TheAsymmetricMotifsThresholds) {
  motif_weights w;
  // Rule 2 at its edge: b's interference on a raised to 1, exactly 4 / asymmetric_ratio, still asymmetric;
  // just above, not.
  w.W_out[0] = 2;
  ASSERT_EQ(w.find().size(), 1u);
  w.W_out[0] = 2.01f;
  EXPECT_TRUE(w.find().empty());
  w.W_out[0] = 0.5f;
  // Rule 3 at its edge: the inhibitor cancels exactly half (-2 x 1 against 4), then a little less.
  w.W_out[4 + 1] = -2;
  EXPECT_EQ(w.find()[0].inhibitor, 1);
  w.W_out[4 + 1] = -1.99f;
  EXPECT_EQ(w.find()[0].inhibitor, -1);
  EXPECT_NEAR(w.find()[0].inhibition, 1.99 / 4, 1e-7);
  EXPECT_FALSE(w.find()[0].motif());
  // An inhibitor must fire on the same sign of x_a: neuron 1 turned to x_a < 0 does not count, and neuron 2
  // (which fires with x_a > 0 and adds +1 to y'_b) is then the best there is, cancelling -1/4.
  w.W_out[4 + 1] = -4, w.W_in[1] = -1;
  EXPECT_EQ(w.find()[0].inhibitor, -1);
  EXPECT_DOUBLE_EQ(w.find()[0].inhibition, -0.25);
  w.W_in[1] = 1;
  // Rule 3: a's own path 2 x 0.125 = 0.25 is at the threshold (still the motif); at 2 x 0.1 = 0.2 the neuron
  // computes b alone: asymmetric and inhibited, the one-sided form, not the motif.
  w.W_out[0] = 0.125f;
  EXPECT_TRUE(w.find()[0].motif());
  w.W_out[0] = 0.1f;
  ASSERT_EQ(w.find().size(), 1u);
  EXPECT_DOUBLE_EQ(w.find()[0].strong_gain, 2 * 0.1f);
  EXPECT_FALSE(w.find()[0].computes_both);
  EXPECT_TRUE(w.find()[0].inhibited());
  EXPECT_FALSE(w.find()[0].motif());
  // Rule 1: b's own path 0.5 x 0.5 = 0.25 is at the threshold; below it the neuron is not asymmetric.
  w.W_out[4 + 0] = 0.5f;  // interference 2 x 0.5 = 1 >= 4 x (0.5 x 0.1): rule 2 holds
  ASSERT_EQ(w.find().size(), 1u);
  w.W_out[4 + 0] = 0.49f;
  EXPECT_TRUE(w.find().empty());
  // Equal signs: the same mechanism, reported with opposite_signs false.
  motif_weights same;
  same.W_in[4 + 0] = 0.5f;
  same.W_in[4 + 2] = 1;  // keep neuron 2 symmetric in magnitude (ratio 1)
  const auto found = same.find();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].opposite_signs);
  EXPECT_TRUE(found[0].motif());
}

}  // namespace
}  // namespace tms
