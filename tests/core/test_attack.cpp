// Adversarial training's attack (attack.hpp) against a hand computation on the same batch: every sample
// moved by exactly lambda along its feature's Gram row, with the worse sign; lambda the relative norm times
// the batch's mean input norm; the attacked features uniform over the n features; a feature without a
// direction left alone. Then training with it: bit-identical for any thread count, and superposition falls as
// the attack grows (E17, a short run).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/attack.hpp"
#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/trainer.hpp"

namespace tms {
namespace {

// A random sparse batch: each entry non-zero with probability 0.3, values in [0.1, 1]; sample 0 empty.
sparse_batch<float> random_batch(int B, int n, unsigned seed) {
  sparse_batch<float> x;
  x.reserve(B, n);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> unit(0.1f, 1.0f);
  int nnz = 0;
  for (int s = 0; s < B; ++s) {
    x.offset[s] = nnz;
    for (int i = 0; i < n && s > 0; ++i)
      if (unit(gen) < 0.37f) x.index[nnz] = i, x.value[nnz] = unit(gen), ++nnz;
  }
  x.offset[B] = nnz;
  return x;
}

std::vector<double> dense(const sparse_batch<float>& x, int s) {
  std::vector<double> out(x.n, 0.0);
  for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) out[x.index[e]] = x.value[e];
  return out;
}

// The model's per-sample loss sum_j I_j (x_j - act(sum_k W_jk (W^T input)_k + b_j))^2, computed directly.
double sample_loss(const std::vector<double>& input, const std::vector<double>& x,
                   const std::vector<float>& W, const std::vector<float>& b, const std::vector<float>& I,
                   int m, bool relu) {
  const int n = static_cast<int>(x.size());
  double total = 0;
  for (int j = 0; j < n; ++j) {
    double z = b[j];
    for (int i = 0; i < n; ++i) {
      double g = 0;
      for (int k = 0; k < m; ++k) g += double(W[j * m + k]) * W[i * m + k];
      z += g * input[i];
    }
    const double out = relu ? std::max(z, 0.0) : z;
    total += I[j] * (x[j] - out) * (x[j] - out);
  }
  return total;
}

TEST(Attack, MovesEverySampleByLambdaAlongItsFeaturesGramRowWithTheWorseSign) {
  const int n = 7, m = 3, B = 40;
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.0f, 0.6f);
  std::vector<float> W(n * m), b(n), I(n);
  for (auto& w : W) w = normal(gen);
  for (int i = 0; i < n; ++i) b[i] = 0.1f * normal(gen), I[i] = 0.5f + 0.07f * i;
  for (int k = 0; k < m; ++k) W[4 * m + k] = 0;  // feature 4 has no direction
  const sparse_batch<float> x = random_batch(B, n, 11);
  for (bool relu : {false, true}) {
    sparse_batch<float> attacked;
    attacked.reserve(B, n);
    attack_workspace ws;
    ws.reserve(n, m);
    attack_record rec;
    attack_batch(attacked, x, W.data(), b.data(), I.data(), m, relu, 0.7, 42, 5, ws, &rec);
    double mean_norm = 0;
    for (int s = 0; s < B; ++s) {
      double sq = 0;
      for (double v : dense(x, s)) sq += v * v;
      mean_norm += std::sqrt(sq) / B;
    }
    EXPECT_NEAR(rec.lambda, 0.7 * mean_norm, 1e-12);
    ASSERT_EQ(attacked.offset[B], B * n);
    int without = 0;
    for (int s = 0; s < B; ++s) {
      const std::vector<double> xs = dense(x, s), moved = dense(attacked, s);
      const int i = rec.feature[s];
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      std::vector<double> Gi(n);
      double norm = 0;
      for (int j = 0; j < n; ++j) {
        for (int k = 0; k < m; ++k) Gi[j] += double(W[i * m + k]) * W[j * m + k];
        norm += Gi[j] * Gi[j];
      }
      norm = std::sqrt(norm);
      if (i == 4) {
        ++without;
        EXPECT_EQ(rec.sign[s], 0);
        for (int j = 0; j < n; ++j) EXPECT_EQ(moved[j], xs[j]);
        continue;
      }
      std::vector<double> plus(n), minus(n);
      for (int j = 0; j < n; ++j)
        plus[j] = xs[j] + rec.lambda * Gi[j] / norm, minus[j] = xs[j] - rec.lambda * Gi[j] / norm;
      const double lp = sample_loss(plus, xs, W, b, I, m, relu),
                   lm = sample_loss(minus, xs, W, b, I, m, relu);
      EXPECT_EQ(rec.sign[s], lm > lp ? -1 : 1) << "sample " << s;
      const std::vector<double>& want = rec.sign[s] > 0 ? plus : minus;
      double moved_sq = 0;
      for (int j = 0; j < n; ++j) {
        EXPECT_NEAR(moved[j], want[j], 1e-6) << "sample " << s << ", entry " << j;
        moved_sq += (moved[j] - xs[j]) * (moved[j] - xs[j]);
      }
      EXPECT_NEAR(std::sqrt(moved_sq), rec.lambda, 1e-5);
    }
    EXPECT_GT(without, 0);  // the draw reached the feature without a direction
  }
}

TEST(Attack, FeaturesAreDrawnUniformlyAndKeyedByStepAndSample) {
  const int n = 5, m = 2, B = 1000, steps = 20;
  std::vector<float> W(n * m, 0.5f), b(n, 0.0f), I(n, 1.0f);
  W[1] = -0.5f;
  const sparse_batch<float> x = random_batch(B, n, 2);
  sparse_batch<float> attacked;
  attacked.reserve(B, n);
  attack_workspace ws;
  ws.reserve(n, m);
  std::vector<double> count(n, 0.0);
  attack_record first, again;
  for (int t = 0; t < steps; ++t) {
    attack_record rec;
    attack_batch(attacked, x, W.data(), b.data(), I.data(), m, true, 0.3, 9, t, ws, &rec);
    for (int f : rec.feature) count[f] += 1;
    if (t == 0) first = rec;
  }
  attack_batch(attacked, x, W.data(), b.data(), I.data(), m, true, 0.3, 9, 0, ws, &again);
  EXPECT_EQ(again.feature, first.feature);  // the same (seed, step): the same draws
  const double N = double(B) * steps, p = 1.0 / n, se = std::sqrt(N * p * (1 - p));
  for (int i = 0; i < n; ++i) EXPECT_NEAR(count[i], N * p, 6 * se) << "feature " << i;
  attack_record other;
  attack_batch(attacked, x, W.data(), b.data(), I.data(), m, true, 0.3, 10, 0, ws, &other);
  EXPECT_NE(other.feature, first.feature);  // another seed: other draws
}

train_config adversarial_config(double norm, int steps) {
  train_config c;
  c.model = model_kind::relu_output;
  c.features = 20, c.hidden = 5;
  c.importance = {importance_spec{1.0, {}}};
  c.density = {0.05};
  c.restarts = 2;
  c.steps = steps;
  c.batch = 256;
  c.adversarial_training = norm;
  return c;
}

TEST(Attack, TrainingIsBitIdenticalForAnyThreadCount) {
  train_config c = adversarial_config(0.5, 300);
  c.threads = 1;
  const train_result one = train(c);
  c.threads = 2;
  const train_result two = train(c);
  EXPECT_EQ(one.weights.values, two.weights.values);
  EXPECT_EQ(one.final_loss, two.final_loss);
}

TEST(Attack, RefusedForModelsWithoutTheTiedGram) {
  train_config c = adversarial_config(0.5, 10);
  c.model = model_kind::relu_hidden;
  EXPECT_THROW(c.validate(), usage_error);
  c = adversarial_config(-0.1, 10);
  EXPECT_THROW(c.validate(), usage_error);
  c = adversarial_config(std::nan(""), 10);
  EXPECT_THROW(c.validate(), usage_error);
}

// E17 in small: at 1-S = 0.05 the plain model puts most of its 20 features in superposition in 5 dimensions;
// trained against an attack of 1.5 x the mean input norm it keeps none in superposition.
TEST(Attack, SuperpositionFallsAsTheAttackGrows) {
  auto in_superposition = [](double norm) {
    const train_result r = train(adversarial_config(norm, 4000));
    int fewest = 1 << 30;
    for (std::int64_t k = 0; k < r.K(); ++k) {
      const instance_metrics mt = measure(r.weights.of("W", k), 20, 5);
      int count = 0;
      for (int i = 0; i < 20; ++i)
        count += mt.norms[i] > represented_norm && mt.superposition[i] > superposition_shared;
      fewest = std::min(fewest, count);
    }
    return fewest;
  };
  const int plain = in_superposition(0), attacked = in_superposition(1.5);
  EXPECT_GE(plain, 12);
  EXPECT_EQ(attacked, 0);
}

}  // namespace
}  // namespace tms
