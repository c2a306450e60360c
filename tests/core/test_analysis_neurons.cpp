// Neuron measurements on constructed weights, where every value is known exactly.
#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace tms
