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

// Adversarial training's step (model_loss_and_grad with `clean`): the model reads one batch (the attacked
// inputs, here a dense one) and is scored against another (the clean samples), the inputs held fixed.
TEST(Gradients, LossAgainstACleanTargetMatchesFiniteDifferences) {
  for (model_kind kind : {model_kind::linear, model_kind::relu_output}) {
    const int n = 6, m = 3, B = 5;
    problem p = make_problem(kind, 21, n, m, B);
    const problem target = make_problem(kind, 22, n, m, B);
    // A dense input batch: every entry listed, values from the two problems' batches and a shift.
    std::mt19937 gen(23);
    std::uniform_real_distribution<double> shift(-0.4, 0.4);
    for (int s = 0; s < B; ++s) {
      p.ws.x.offset[s] = s * n;
      for (int i = 0; i < n; ++i) p.ws.x.index[s * n + i] = i, p.ws.x.value[s * n + i] = shift(gen);
    }
    p.ws.x.offset[B] = B * n;
    auto loss = [&](const std::vector<double>& params) {
      std::vector<double> scratch(params.size(), 0.0);
      return model_loss_and_grad(model_tensors(kind, n, m), scratch.data(), params.data(),
                                 p.importance.data(), p.ws, 0.0, &target.ws.x);
    };
    std::vector<double> grad(p.params.size(), 0.0);
    const double at = model_loss_and_grad(model_tensors(kind, n, m), grad.data(), p.params.data(),
                                          p.importance.data(), p.ws, 0.0, &target.ws.x);
    std::vector<double> ignored(p.params.size(), 0.0);
    EXPECT_NE(at, model_loss_and_grad(kind, ignored.data(), p.params.data(), p.importance.data(), n, m, p.ws))
        << "the clean target must change the loss";
    if (kind == model_kind::relu_output) {  // away from the kink
      model_forward(model_kind::linear, p.params.data(), n, m, p.ws);
      for (double z : p.ws.x_hat) ASSERT_GT(std::abs(z), 1e-4);
    }
    const double h = 1e-6;
    for (std::size_t j = 0; j < p.params.size(); ++j) {
      auto plus = p.params, minus = p.params;
      plus[j] += h;
      minus[j] -= h;
      const double fd = (loss(plus) - loss(minus)) / (2 * h);
      EXPECT_NEAR(grad[j], fd, 1e-7 + 1e-6 * std::abs(fd)) << model_name(kind) << ", parameter " << j;
    }
  }
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

// The models with a hidden ReLU through their table (abs; relu_hidden with a hidden bias), on signed inputs
// (x in +-[0.1, 1], as abs trains on), with and without the L1 penalty.
struct layout_problem {
  model_layout L;
  std::vector<double> params, importance;
  model_workspace<double> ws;
};

layout_problem make_layout_problem(const model_layout& L, unsigned seed, int B) {
  layout_problem p;
  p.L = L;
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.6);
  std::uniform_real_distribution<double> unit(0.1, 1.0);
  p.params.resize(L.params);
  for (auto& v : p.params) v = normal(gen);
  for (int i = 0; i < L.n; ++i) p.importance.push_back(unit(gen));
  p.ws.reserve(B, L.n, L.m);
  int nnz = 0;
  for (int s = 0; s < B; ++s) {
    p.ws.x.offset[s] = nnz;
    for (int i = 0; i < L.n; ++i)
      if (unit(gen) < 0.5) {
        p.ws.x.index[nnz] = i;
        p.ws.x.value[nnz] = unit(gen) * (unit(gen) < 0.55 ? -1 : 1);
        ++nnz;
      }
  }
  p.ws.x.offset[B] = nnz;
  return p;
}

// Both ReLUs' pre-activations, computed here from the definitions (not by the code under test): each away
// from its kink by more than the step, and each with units on both sides in the batch.
bool away_from_kinks(const layout_problem& p) {
  const model_layout& L = p.L;
  const int n = L.n, m = L.m, B = p.ws.x.B;
  const double* W_in = p.params.data() + L.at(L.embedding).offset;
  const double* W_out = p.params.data() + L.at(L.kind == model_kind::abs ? "W_out" : "W").offset;
  const double* b = p.params.data() + L.at("b").offset;
  const double* b_hidden = L.hidden_bias ? p.params.data() + L.at("b_hidden").offset : nullptr;
  double smallest = INFINITY;
  int h_off = 0, out_off = 0;
  for (int s = 0; s < B; ++s) {
    std::vector<double> h(m);
    for (int k = 0; k < m; ++k) {
      double z = b_hidden ? b_hidden[k] : 0;
      for (int e = p.ws.x.offset[s]; e < p.ws.x.offset[s + 1]; ++e)
        z += p.ws.x.value[e] * W_in[p.ws.x.index[e] * m + k];
      smallest = std::min(smallest, std::abs(z));
      h_off += z <= 0;
      h[k] = std::max(0.0, z);
    }
    for (int i = 0; i < n; ++i) {
      double z = b[i];
      for (int k = 0; k < m; ++k) z += W_out[i * m + k] * h[k];
      smallest = std::min(smallest, std::abs(z));
      out_off += z <= 0;
    }
  }
  return smallest > 1e-3 && h_off > 0 && h_off < B * m && out_off > 0 && out_off < B * n;
}

void check_layout_gradient(const model_layout& L, unsigned seed, int B, double l1 = 0) {
  layout_problem p = make_layout_problem(L, seed, B);
  for (unsigned s = seed; !away_from_kinks(p);) p = make_layout_problem(L, s += 1000, B);
  auto loss_at = [&](const std::vector<double>& params) {
    std::vector<double> scratch(params.size(), 0.0);
    return model_loss_and_grad(L, scratch.data(), params.data(), p.importance.data(), p.ws, l1);
  };
  std::vector<double> grad(p.params.size(), 0.0);
  model_loss_and_grad(L, grad.data(), p.params.data(), p.importance.data(), p.ws, l1);
  const double h = 1e-6;
  for (std::size_t j = 0; j < p.params.size(); ++j) {
    auto plus = p.params, minus = p.params;
    plus[j] += h;
    minus[j] -= h;
    const double fd = (loss_at(plus) - loss_at(minus)) / (2 * h);
    EXPECT_NEAR(grad[j], fd, 1e-7 + 1e-6 * std::abs(fd)) << "parameter " << j << " of " << p.params.size();
  }
}

TEST(Gradients, AbsMatchesFiniteDifferences) {
  check_layout_gradient(model_tensors(model_kind::abs, 3, 6), 21, 8);
  check_layout_gradient(model_tensors(model_kind::abs, 1, 2), 22, 5);
  check_layout_gradient(model_tensors(model_kind::abs, 10, 4), 23, 9);
  check_layout_gradient(model_tensors(model_kind::abs, 7, 3, true), 24, 6);
  check_layout_gradient(model_tensors(model_kind::abs, 7, 3), 25, 6, 0.3);
  check_layout_gradient(model_tensors(model_kind::abs, 5, 4, true), 26, 7, 1.5);
}

TEST(Gradients, HiddenBiasMatchesFiniteDifferences) {
  check_layout_gradient(model_tensors(model_kind::relu_hidden, 7, 3, true), 27, 6);
  check_layout_gradient(model_tensors(model_kind::relu_hidden, 10, 5, true), 28, 8, 0.3);
}

// The abs model's target is |x|: with the weights of one that computes it exactly (a neuron per sign of each
// feature) the loss is 0 and so is every gradient; the tied models' target is x itself.
TEST(Gradients, AbsTargetIsTheAbsoluteValue) {
  const model_layout L = model_tensors(model_kind::abs, 2, 4);
  layout_problem p = make_layout_problem(L, 29, 10);
  std::fill(p.params.begin(), p.params.end(), 0.0);
  const double w_in[] = {1, -1, 0, 0, 0, 0, 1, -1}, w_out[] = {1, 1, 0, 0, 0, 0, 1, 1};
  std::copy(w_in, w_in + 8, p.params.begin() + L.at("W_in").offset);
  std::copy(w_out, w_out + 8, p.params.begin() + L.at("W_out").offset);
  std::vector<double> grad(L.params, 0.0);
  EXPECT_EQ(model_loss_and_grad(L, grad.data(), p.params.data(), p.importance.data(), p.ws), 0.0);
  for (double g : grad) EXPECT_EQ(g, 0.0);
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
