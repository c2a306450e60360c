// Finite-difference checks, in double precision, of the hand-written backward passes of every model
// (model_loss_and_grad: forward, weighted MSE, backward).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/model.hpp"

namespace tms {
namespace {

struct problem {
  int n = 7, m = 3, B = 6;
  std::vector<double> params, importance;
  model_workspace<double> ws;
};

// Random parameters and a random sparse batch with values in [0.1, 1] (away from the sparse zeros).
problem make_problem(model_kind kind, unsigned seed, int n, int m, int B) {
  problem p;
  p.n = n, p.m = m, p.B = B;
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.6);
  std::uniform_real_distribution<double> unit(0.1, 1.0);
  p.params.resize(model_param_count(kind, n, m));
  for (auto& v : p.params) v = normal(gen);
  for (int i = 0; i < n; ++i) p.importance.push_back(unit(gen));
  p.ws.reserve(B, n, m);
  int nnz = 0;
  for (int s = 0; s < B; ++s) {
    p.ws.x.offset[s] = nnz;
    for (int i = 0; i < n; ++i)
      if (unit(gen) < 0.5) {
        p.ws.x.index[nnz] = i;
        p.ws.x.value[nnz] = unit(gen);
        ++nnz;
      }
  }
  p.ws.x.offset[B] = nnz;
  return p;
}

double loss_at(model_kind kind, problem& p, const std::vector<double>& params, double l1) {
  std::vector<double> scratch(params.size(), 0.0);
  return model_loss_and_grad(kind, scratch.data(), params.data(), p.importance.data(), p.n, p.m, p.ws, l1);
}

// Smallest |pre-activation| over the batch: the ReLU kink must be further than the finite-difference step.
double min_abs_preactivation(problem& p) {
  model_forward(model_kind::linear, p.params.data(), p.n, p.m, p.ws);
  double smallest = INFINITY;
  for (double z : p.ws.x_hat) smallest = std::min(smallest, std::abs(z));
  return smallest;
}

// l1 > 0 adds the L1 penalty on the hidden activations, whose kink (h = 0) must also be away from the step.
void check_gradient(model_kind kind, unsigned seed, int n, int m, int B, double l1 = 0) {
  problem p = make_problem(kind, seed, n, m, B);
  if (l1 > 0 && kind != model_kind::relu_hidden) {
    auto usable = [&]() {
      model_forward(model_kind::linear, p.params.data(), n, m, p.ws);
      for (double h : p.ws.h)
        if (std::abs(h) < 1e-3) return false;
      return true;
    };
    unsigned s = seed;
    while (!usable()) p = make_problem(kind, s += 1000, n, m, B);
  }
  if (kind == model_kind::relu_output) {
    // Away from ties: redraw until no pre-activation sits within 1e-3 of the kink, and until the batch has
    // both inactive and active outputs, so that both sides of the ReLU are checked.
    auto usable = [&]() {
      if (min_abs_preactivation(p) < 1e-3) return false;
      model_forward(kind, p.params.data(), n, m, p.ws);
      int off = 0;
      for (double v : p.ws.x_hat) off += v == 0;
      return off > 0 && off < static_cast<int>(p.ws.x_hat.size());
    };
    unsigned s = seed;
    while (!usable()) p = make_problem(kind, s += 1000, n, m, B);
  }
  if (kind == model_kind::relu_hidden) {
    // Both ReLUs away from their kinks, and each with active and inactive units in the batch.
    auto usable = [&]() {
      model_forward(model_kind::linear, p.params.data(), n, m,
                    p.ws);  // ws.h = W x, the hidden pre-activation
      const std::vector<double> pre_h = p.ws.h;
      int h_off = 0, out_off = 0;
      double smallest = INFINITY;
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < n; ++i) {
          double z = p.params[static_cast<std::size_t>(n) * m + i];
          for (int k = 0; k < m; ++k) z += p.params[i * m + k] * std::max(0.0, pre_h[b * m + k]);
          smallest = std::min(smallest, std::abs(z));
          out_off += z <= 0;
        }
      for (double z : pre_h) smallest = std::min(smallest, std::abs(z)), h_off += z <= 0;
      return smallest > 1e-3 && h_off > 0 && h_off < B * m && out_off > 0 && out_off < B * n;
    };
    unsigned s = seed;
    while (!usable()) p = make_problem(kind, s += 1000, n, m, B);
  }
  std::vector<double> grad(p.params.size(), 0.0);
  model_loss_and_grad(kind, grad.data(), p.params.data(), p.importance.data(), n, m, p.ws, l1);
  const double h = 1e-6;
  double worst = 0;
  std::size_t worst_at = 0;
  for (std::size_t j = 0; j < p.params.size(); ++j) {
    auto plus = p.params, minus = p.params;
    plus[j] += h;
    minus[j] -= h;
    const double fd = (loss_at(kind, p, plus, l1) - loss_at(kind, p, minus, l1)) / (2 * h);
    const double err = std::abs(fd - grad[j]) / std::max(1e-6, std::abs(fd) + std::abs(grad[j]));
    if (err > worst) worst = err, worst_at = j;
    EXPECT_NEAR(grad[j], fd, 1e-7 + 1e-6 * std::abs(fd)) << "parameter " << j << " of " << p.params.size();
  }
  ::testing::Test::RecordProperty("worst_relative_error",
                                  std::to_string(worst) + " at " + std::to_string(worst_at));
}

TEST(Gradients, LinearMatchesFiniteDifferences) {
  check_gradient(model_kind::linear, 1, 7, 3, 6);
  check_gradient(model_kind::linear, 2, 1, 1, 1);
  check_gradient(model_kind::linear, 3, 11, 5, 9);
}

TEST(Gradients, ReluOutputMatchesFiniteDifferences) {
  check_gradient(model_kind::relu_output, 4, 7, 3, 6);
  check_gradient(model_kind::relu_output, 5, 2, 1, 4);
  check_gradient(model_kind::relu_output, 6, 13, 4, 8);
}

TEST(Gradients, ReluHiddenMatchesFiniteDifferences) {
  check_gradient(model_kind::relu_hidden, 9, 7, 3, 6);
  check_gradient(model_kind::relu_hidden, 10, 3, 2, 5);
  check_gradient(model_kind::relu_hidden, 11, 10, 5, 8);
}

TEST(Gradients, L1PenaltyMatchesFiniteDifferences) {
  check_gradient(model_kind::linear, 12, 7, 3, 6, 0.3);
  check_gradient(model_kind::relu_output, 13, 7, 3, 6, 0.3);
  check_gradient(model_kind::relu_hidden, 14, 7, 3, 6, 0.3);
  check_gradient(model_kind::relu_hidden, 15, 10, 5, 8, 2.0);
}

// The float path used for training computes the same gradient as the double path, to float accuracy.
TEST(Gradients, FloatPathMatchesDouble) {
  for (model_kind kind : {model_kind::linear, model_kind::relu_output, model_kind::relu_hidden}) {
    problem p = make_problem(kind, 7, 9, 4, 16);
    std::vector<double> gd(p.params.size(), 0.0);
    const double ld = model_loss_and_grad(kind, gd.data(), p.params.data(), p.importance.data(), 9, 4, p.ws);
    model_workspace<float> wf;
    wf.reserve(16, 9, 4);
    wf.x.offset = p.ws.x.offset;
    wf.x.index = p.ws.x.index;
    for (std::size_t e = 0; e < p.ws.x.value.size(); ++e) wf.x.value[e] = static_cast<float>(p.ws.x.value[e]);
    std::vector<float> pf(p.params.begin(), p.params.end()), If(p.importance.begin(), p.importance.end());
    std::vector<float> gf(pf.size(), 0.0f);
    const double lf = model_loss_and_grad(kind, gf.data(), pf.data(), If.data(), 9, 4, wf);
    EXPECT_NEAR(lf, ld, 1e-5 * std::abs(ld));
    for (std::size_t j = 0; j < gd.size(); ++j) EXPECT_NEAR(gf[j], gd[j], 1e-5 + 1e-4 * std::abs(gd[j]));
  }
}

// The backward accumulates (+=): two calls give twice the gradient.
TEST(Gradients, BackwardAccumulates) {
  problem p = make_problem(model_kind::relu_output, 8, 5, 2, 4);
  std::vector<double> once(p.params.size(), 0.0), twice(p.params.size(), 0.0);
  model_loss_and_grad(model_kind::relu_output, once.data(), p.params.data(), p.importance.data(), 5, 2, p.ws);
  for (int r = 0; r < 2; ++r)
    model_loss_and_grad(model_kind::relu_output, twice.data(), p.params.data(), p.importance.data(), 5, 2,
                        p.ws);
  for (std::size_t j = 0; j < once.size(); ++j) EXPECT_DOUBLE_EQ(twice[j], 2 * once[j]);
}

}  // namespace
}  // namespace tms
