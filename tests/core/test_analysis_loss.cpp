// The ReLU output model's 1-sparse loss decomposition (paper §4.2): the closed-form integrals against
// numerical quadrature, the decomposition against the engine's own model on 0- and 1-sparse inputs, and the
// truncated expectation against the engine's generator.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/analysis_loss.hpp"
#include "core/analysis_phase.hpp"
#include "core/data_sparse.hpp"
#include "core/errors.hpp"
#include "core/model.hpp"
#include "monte_carlo.hpp"

namespace tms {
namespace {

double relu(double v) {
  return v > 0 ? v : 0;
}

// Composite midpoint rule on [0, 1]; the integrands are piecewise quadratics with one kink, so the error is
// O(1/N^2) away from the kink and O(1/N^2) in total.
template <class F>
double quadrature(F f, int N = 200000) {
  double s = 0;
  for (int k = 0; k < N; ++k) s += f((k + 0.5) / N);
  return s / N;
}

TEST(AnalysisLoss, IntegralsMatchQuadrature) {
  for (double a : {-2.0, -0.5, 0.0, 0.3, 1.0, 1.7, 3.0})
    for (double c : {-1.2, -0.3, 0.0, 0.2, 0.9}) {
      EXPECT_NEAR(relu_benefit_integral(a, c),
                  quadrature([&](double x) { return std::pow(x - relu(a * x + c), 2); }), 1e-9)
          << "a = " << a << ", c = " << c;
      EXPECT_NEAR(relu_square_integral(a, c),
                  quadrature([&](double x) { return std::pow(relu(a * x + c), 2); }), 1e-9)
          << "a = " << a << ", c = " << c;
    }
}

TEST(AnalysisLoss, IntegralsByHand) {
  EXPECT_DOUBLE_EQ(relu_benefit_integral(1, 0), 0);             // ||W_i|| = 1, b = 0: exact
  EXPECT_DOUBLE_EQ(relu_benefit_integral(0, 0), 1.0 / 3);       // not represented, no bias: E[x^2]
  EXPECT_NEAR(relu_benefit_integral(0, 0.5), 1.0 / 12, 1e-15);  // bias at the mean: Var[x] of U[0, 1]
  EXPECT_NEAR(relu_square_integral(1, 0), 1.0 / 3, 1e-15);
  EXPECT_NEAR(relu_square_integral(-1, 0.5), 0.125 / 3, 1e-15);  // int_0^1/2 (1/2 - x)^2
  EXPECT_DOUBLE_EQ(relu_square_integral(-1, 0), 0);              // negative interference is free
  EXPECT_DOUBLE_EQ(relu_square_integral(0.4, -0.5), 0);          // ... and so is one the bias cuts off
}

struct model_case {
  int n, m;
  std::vector<float> params;  // W [n][m] then b [n]
  std::vector<float> importance;
};

model_case random_case(int n, int m, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.6);
  std::uniform_real_distribution<double> bias(-0.4, 0.3);
  model_case mc{n, m, {}, {}};
  for (int k = 0; k < n * m; ++k) mc.params.push_back(static_cast<float>(normal(gen)));
  for (int i = 0; i < n; ++i) mc.params.push_back(static_cast<float>(bias(gen)));
  for (int i = 0; i < n; ++i) mc.importance.push_back(static_cast<float>(std::pow(0.8, i)));
  return mc;
}

relu_loss_terms decompose(const model_case& mc, double p) {
  return relu_loss_decomposition(mc.params.data(), mc.params.data() + mc.n * mc.m, mc.importance.data(), p,
                                 mc.n, mc.m);
}

// Runs the engine's ReLU output model on a hand-built batch where sample s has only feature `active` on, at
// value value(s) (or no feature on when active < 0). Returns sum_s of the active coordinate's weighted error
// and of the other coordinates'.
template <class Value>
std::pair<double, double> run_one_sparse(const model_case& mc, int active, int B, Value value) {
  model_workspace<double> ws;
  ws.reserve(B, mc.n, mc.m);
  int nnz = 0;
  for (int s = 0; s < B; ++s) {
    ws.x.offset[s] = nnz;
    if (active >= 0) {
      ws.x.index[nnz] = active;
      ws.x.value[nnz] = value(s);
      ++nnz;
    }
  }
  ws.x.offset[B] = nnz;
  const std::vector<double> params(mc.params.begin(), mc.params.end());
  model_forward(model_kind::relu_output, params.data(), mc.n, mc.m, ws);
  double own = 0, others = 0;
  for (int s = 0; s < B; ++s)
    for (int j = 0; j < mc.n; ++j) {
      const double x = j == active ? value(s) : 0, err = x - ws.x_hat[static_cast<std::size_t>(s) * mc.n + j];
      (j == active ? own : others) += mc.importance[j] * err * err;
    }
  return {own, others};
}

TEST(AnalysisLoss, DecompositionMatchesTheModelOnOneSparseInputs) {
  for (unsigned seed : {1u, 2u, 3u}) {
    const model_case mc = random_case(6, 2, seed);
    const relu_loss_terms t = decompose(mc, 0.1);
    // The integral over x_i in [0, 1] by the midpoint rule, each point through the model's forward.
    const int B = 20000;
    double benefit = 0, interference = 0, benefit_one = 0, interference_one = 0;
    for (int i = 0; i < mc.n; ++i) {
      const auto [own, others] = run_one_sparse(mc, i, B, [&](int s) { return (s + 0.5) / B; });
      benefit += own / B;
      interference += others / B;
      const auto [own1, others1] = run_one_sparse(mc, i, 1, [](int) { return 1.0; });
      benefit_one += own1;
      interference_one += others1;
    }
    EXPECT_NEAR(t.feature_benefit, benefit, 1e-7) << "seed " << seed;
    EXPECT_NEAR(t.interference, interference, 1e-7) << "seed " << seed;
    EXPECT_NEAR(t.l1, benefit + interference, 1e-7);
    EXPECT_NEAR(t.feature_benefit_at_one, benefit_one, 1e-10);
    EXPECT_NEAR(t.interference_at_one, interference_one, 1e-10);
    EXPECT_GT(t.interference, 0);  // the random weights do interfere: the test is not vacuous
    // L_0: the all-zero input, where x' = ReLU(b).
    const auto [none, zero_input] = run_one_sparse(mc, -1, 1, [](int) { return 0.0; });
    EXPECT_EQ(none, 0);
    EXPECT_NEAR(t.l0, zero_input, 1e-12);
    EXPECT_GT(t.l0, 0);
  }
}

TEST(AnalysisLoss, ExpectedOneSparseMatchesTheGenerator) {
  // E[loss ; at most one active feature], estimated from the engine's generator and forward: each sample
  // contributes its weighted squared error if it has at most one active feature, else 0.
  const model_case mc = random_case(5, 2, 11);
  const int n = mc.n, m = mc.m, B = 4096, steps = 40;
  model_workspace<float> ws;
  ws.reserve(B, n, m);
  std::uint64_t seed = 500;
  for (double p : {0.6, 0.2, 0.05}) {
    const relu_loss_terms t = decompose(mc, p);
    double sum = 0, sum_sq = 0;
    for (int step = 0; step < steps; ++step) {
      sample_sparse_batch(ws.x, ++seed, step, p);
      model_forward(model_kind::relu_output, mc.params.data(), n, m, ws);
      std::vector<double> x(n);
      for (int s = 0; s < B; ++s) {
        double l = 0;
        if (ws.x.offset[s + 1] - ws.x.offset[s] <= 1) {
          std::fill(x.begin(), x.end(), 0.0);
          for (int e = ws.x.offset[s]; e < ws.x.offset[s + 1]; ++e) x[ws.x.index[e]] = ws.x.value[e];
          for (int j = 0; j < n; ++j) {
            const double err = x[j] - ws.x_hat[static_cast<std::size_t>(s) * n + j];
            l += mc.importance[j] * err * err;
          }
        }
        sum += l;
        sum_sq += l * l;
      }
    }
    const double N = static_cast<double>(B) * steps, mean = sum / N;
    const double se = std::sqrt((sum_sq / N - mean * mean) / N);
    EXPECT_NEAR(mean, t.expected_one_sparse, 5 * se + 1e-6) << "density " << p << " (se " << se << ")";
    const double S = 1 - p;
    EXPECT_NEAR(t.expected_one_sparse, std::pow(S, n) * t.l0 + p * std::pow(S, n - 1) * t.l1, 1e-15);
  }
}

TEST(AnalysisLoss, ThomsonEnergyOfAPentagon) {
  // §4.3: unit norms, b = 0, I = 1: the benefit term vanishes and the interference at x = 1 is
  // sum_{i != j} ReLU(W_i . W_j)^2 = 5 x 2 x cos(72 deg)^2; the integral is a third of it.
  std::vector<float> W;
  for (int j = 0; j < 5; ++j) {
    W.push_back(static_cast<float>(std::cos(2 * M_PI * j / 5)));
    W.push_back(static_cast<float>(std::sin(2 * M_PI * j / 5)));
  }
  const std::vector<float> b(5, 0), I(5, 1);
  const relu_loss_terms t = relu_loss_decomposition(W.data(), b.data(), I.data(), 0.05, 5, 2);
  const double c = std::cos(2 * M_PI / 5);
  EXPECT_NEAR(t.feature_benefit, 0, 1e-6);
  EXPECT_NEAR(t.feature_benefit_at_one, 0, 1e-12);
  EXPECT_NEAR(t.interference_at_one, 10 * c * c, 1e-6);
  EXPECT_NEAR(t.interference, 10 * c * c / 3, 1e-6);
  EXPECT_EQ(t.l0, 0);
}

TEST(AnalysisLoss, AgreesWithThePhaseCandidates) {
  // n = 2, m = 1. The antipodal pair errs only on 2-sparse inputs: L_0 = L_1 = 0.
  const double p = 0.3, r = 2.0;
  const std::vector<float> I = {1, static_cast<float>(r)};
  phase_weights w = phase_candidate_weights(phase_problem::n2_m1, phase_candidate::extra_antipodal, p);
  relu_loss_terms t = relu_loss_decomposition(w.W.data(), w.b.data(), I.data(), p, 2, 1);
  EXPECT_EQ(t.l1, 0);
  EXPECT_EQ(t.l0, 0);
  // The dedicated candidate, W = [0, 1] and b = [p/2, 0]: the full expansion S^2 L_0 + p S L_1 + p^2 L_2,
  // with L_2 = E[(x - p/2)^2] = 1/3 - p/2 + p^2/4 (feature 1 is exact, feature 0 sits at its bias), gives the
  // phase theory's closed form p/3 - p^2/4.
  w = phase_candidate_weights(phase_problem::n2_m1, phase_candidate::extra_dedicated, p);
  t = relu_loss_decomposition(w.W.data(), w.b.data(), I.data(), p, 2, 1);
  const double S = 1 - p, l2 = 1.0 / 3 - p / 2 + p * p / 4;
  EXPECT_NEAR(t.expected_one_sparse + p * p * l2,
              phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_dedicated, p, r), 1e-7);
  EXPECT_NEAR(t.l0, (p / 2) * (p / 2), 1e-7);
  EXPECT_NEAR(t.expected_one_sparse, S * S * t.l0 + p * S * t.l1, 1e-15);
}

TEST(AnalysisLoss, BadInputThrows) {
  const std::vector<float> W = {1}, b = {0}, I = {1};
  EXPECT_THROW(relu_loss_decomposition(W.data(), b.data(), I.data(), 0, 1, 1), usage_error);
  EXPECT_THROW(relu_loss_decomposition(W.data(), b.data(), I.data(), 1.2, 1, 1), usage_error);
  EXPECT_THROW(relu_loss_decomposition(W.data(), b.data(), I.data(), 0.5, 0, 1), usage_error);
  EXPECT_THROW(relu_loss_decomposition(W.data(), b.data(), I.data(), 0.5, 1, 0), usage_error);
}

}  // namespace
}  // namespace tms

namespace tms {
namespace {

// The pattern table gives the exact expected loss under per-feature densities: compare with the training loss
// of the engine's own generator (relative densities) over many batches.
TEST(AnalysisLoss, PatternLossesGiveTheExpectedLossUnderNonUniformDensities) {
  const int n = 5, m = 2, B = 4096, steps = 60;
  std::mt19937 gen(21);
  std::normal_distribution<double> normal(0, 0.7);
  std::vector<float> params(model_param_count(model_kind::relu_output, n, m)), importance(n);
  for (auto& v : params) v = static_cast<float>(normal(gen));
  for (int i = 0; i < n; ++i) params[n * m + i] = -0.1f, importance[i] = static_cast<float>(std::pow(0.8, i));
  const double p = 0.2;
  const std::vector<double> relative = {0.5, 1, 2, 1, 3};
  std::vector<double> density(n);
  for (int i = 0; i < n; ++i) density[i] = std::min(1.0, p * relative[i]);
  const auto table =
      relu_pattern_losses(params.data(), params.data() + n * m, importance.data(), n, m, 20000, 1);
  ASSERT_EQ(table.size(), 32u);
  EXPECT_EQ(table[0], 0.0);  // the empty pattern costs only positive biases, and all are negative here
  const double predicted = expected_loss_from_patterns(table, density.data(), n);
  const auto mc =
      testing::monte_carlo_loss(model_kind::relu_output, params, importance, n, m, B, steps, p, 3, relative);
  EXPECT_NEAR(mc.mean, predicted, 5 * mc.se + 0.01 * predicted);
  EXPECT_THROW(relu_pattern_losses(params.data(), params.data() + n * m, importance.data(), 21, m, 10, 1),
               usage_error);
}

}  // namespace
}  // namespace tms
