// E16's attack (analysis_adversarial.hpp) against hand computations on the same samples (sample_inputs draws
// the evaluation stream the attack reads): a linear model with two features on one direction, where the worst
// attack per sample has a closed form; a model equal to its own non-superposition reference (vulnerability
// 1); and an antipodal pair, more vulnerable than the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/analysis_adversarial.hpp"
#include "core/errors.hpp"
#include "core/evaluate.hpp"

namespace tms {
namespace {

train_config small(model_kind kind, int n, int m, double density) {
  train_config c;
  c.model = kind;
  c.features = n, c.hidden = m;
  c.density = {density};
  c.importance = {importance_spec{1.0, {}}};
  c.batch = 256;
  c.validate();
  return c;
}

model_weights weights_of(const train_config& c, const std::vector<float>& W, const std::vector<float>& b) {
  model_weights w;
  w.assign(model_tensors(c), 1);
  w["W"] = W;
  w["b"] = b;
  return w;
}

TEST(Adversarial, TwoFeaturesOnOneDirectionMatchTheClosedForm) {
  const train_config c = small(model_kind::linear, 2, 1, 1.0);
  const std::int64_t N = 5000;
  const auto r = adversarial_vulnerability(c, config_instances(c), weights_of(c, {1, 1}, {0, 0}), N, 3);
  const std::vector<float> x = sample_inputs(c, N, 3);
  // G = [[1, 1], [1, 1]]: the attack along G_0 / |G_0| = (1, 1)/sqrt 2 moves both outputs by sqrt 2 lambda;
  // each sample's worst sign adds 4 lambda^2 + 2 sqrt 2 lambda |r_0 + r_1| to its summed squared error.
  double norm = 0;
  for (std::int64_t s = 0; s < N; ++s) norm += std::hypot(x[2 * s], x[2 * s + 1]);
  const double lambda = 0.1 * norm / N;
  double clean = 0, attacked = 0;
  for (std::int64_t s = 0; s < N; ++s) {
    const double x0 = x[2 * s], x1 = x[2 * s + 1], r0 = x0 - (x0 + x1), r1 = x1 - (x0 + x1);
    clean += r0 * r0 + r1 * r1;
    attacked += r0 * r0 + r1 * r1 + 4 * lambda * lambda + 2 * std::sqrt(2.0) * lambda * std::fabs(r0 + r1);
  }
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NEAR(r[0].attack_norm, lambda, 1e-9 * lambda);
  EXPECT_NEAR(r[0].clean, clean / (2.0 * N), 1e-9);
  EXPECT_NEAR(r[0].attacked, attacked / (2.0 * N), 1e-9);
  // The reference keeps feature 0 on its own direction: the attack moves its output by lambda, +-.
  EXPECT_NEAR(r[0].reference_attacked - r[0].reference_clean, lambda * lambda / 2, 1e-8 * lambda * lambda);
  EXPECT_NEAR(r[0].vulnerability, (attacked - clean) / (2.0 * N) / (lambda * lambda / 2), 1e-6);
  EXPECT_NEAR(r[0].features_per_dimension, 2.0, 1e-12);
}

TEST(Adversarial, TheReferenceItselfHasVulnerabilityOne) {
  const train_config c = small(model_kind::relu_output, 5, 2, 0.2);
  // Features 0 and 1 (the most important, I = 1 ties: the lower index) on e_0, e_1; b = 0.
  std::vector<float> W(10, 0.0f), b(5, 0.0f);
  W[0 * 2 + 0] = 1, W[1 * 2 + 1] = 1;
  const auto r = adversarial_vulnerability(c, config_instances(c), weights_of(c, W, b), 4000, 1);
  EXPECT_DOUBLE_EQ(r[0].clean, r[0].reference_clean);
  EXPECT_DOUBLE_EQ(r[0].attacked, r[0].reference_attacked);
  EXPECT_DOUBLE_EQ(r[0].vulnerability, 1.0);
  EXPECT_GT(r[0].attacked, r[0].clean);
}

TEST(Adversarial, AnAntipodalPairIsMoreVulnerable) {
  const train_config c = small(model_kind::relu_output, 2, 1, 0.1);
  const auto r = adversarial_vulnerability(c, config_instances(c), weights_of(c, {1, -1}, {0, 0}), 20000, 2);
  EXPECT_GT(r[0].vulnerability, 1.5);
  EXPECT_THROW(adversarial_vulnerability(c, config_instances(c), weights_of(c, {1, -1}, {0, 0}), 0, 2),
               usage_error);
  train_config abs = c;
  abs.model = model_kind::abs;
  EXPECT_THROW(adversarial_vulnerability(abs, config_instances(abs), model_weights{}, 100, 2), usage_error);
}

}  // namespace
}  // namespace tms
