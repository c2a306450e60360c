// The loss decompositions against an independent numerical expectation on hand-made weights, computed here
// from the model's definition alone (x' = W^T W x + b, or its ReLU) and the data's (x_i = 0 with probability
// 1 - p_i, else U[0, 1), independently):
//  * the linear model (metrics: linear_loss_decomposition): the exact expectation over all 2^n activity
//    patterns, each active value integrated by 3-point Gauss-Legendre (exact: the loss is quadratic in x);
//    the three terms through the law of total variance, e_i = x_i - x'_i: bias = (E e_i)^2, feature benefit =
//    Var_{x_i} E[e_i | x_i], interference = E_{x_i} Var[e_i | x_i];
//  * the ReLU output model's 1-sparse terms (analysis_loss: relu_loss_decomposition): each single active
//    feature integrated over [0, 1] by composite 5-point Gauss-Legendre on 20000 panels (the kinks of the
//    ReLU cost at most ~1e-9), the all-zero input, the values at x_i = 1, and the truncated expectation.
// Tolerances are far below the smallest term, so a dropped term, a wrong weight (I_i for I_j) or a wrong
// factor (1/n, mu, sigma^2, an exponent of S) fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/analysis_loss.hpp"
#include "core/metrics.hpp"

namespace tms {
namespace {

struct hand_model {
  int n, m;
  std::vector<float> W;  // [n][m]
  std::vector<float> b;  // [n]
  std::vector<float> I;  // [n]
};

// n = 4 features in m = 2 dimensions, every row different, biases of both signs, importances unequal.
hand_model hand_made() {
  return {4,
          2,
          {1.1f, 0.2f, -0.3f, 0.9f, 0.6f, -0.5f, 0.25f, 0.35f},
          {-0.15f, 0.1f, -0.05f, 0.2f},
          {1.0f, 0.7f, 0.45f, 0.3f}};
}

// x' = W^T W x + b (pre-activation), in double from the float weights, straight from the definition.
std::vector<double> pre_activation(const hand_model& h, const std::vector<double>& x) {
  std::vector<double> hidden(h.m, 0.0), out(h.n, 0.0);
  for (int i = 0; i < h.n; ++i)
    for (int k = 0; k < h.m; ++k) hidden[k] += x[i] * h.W[i * h.m + k];
  for (int j = 0; j < h.n; ++j) {
    out[j] = h.b[j];
    for (int k = 0; k < h.m; ++k) out[j] += h.W[j * h.m + k] * hidden[k];
  }
  return out;
}

// Gauss-Legendre nodes and weights on [0, 1].
struct rule {
  std::vector<double> x, w;
};
rule gauss_legendre3() {
  const double a = std::sqrt(0.6) / 2;
  return {{0.5 - a, 0.5, 0.5 + a}, {5.0 / 18, 8.0 / 18, 5.0 / 18}};
}
rule composite_gauss_legendre5(int panels) {
  const double s = std::sqrt(5 - 2 * std::sqrt(10.0 / 7)) / 3, t = std::sqrt(5 + 2 * std::sqrt(10.0 / 7)) / 3;
  const double ws = (322 + 13 * std::sqrt(70.0)) / 900, wt = (322 - 13 * std::sqrt(70.0)) / 900;
  const double nodes[5] = {-t, -s, 0, s, t}, weights[5] = {wt, ws, 128.0 / 225, ws, wt};
  rule r;
  const double h = 1.0 / panels;
  for (int p = 0; p < panels; ++p)
    for (int q = 0; q < 5; ++q) {
      r.x.push_back((p + 0.5 + 0.5 * nodes[q]) * h);
      r.w.push_back(0.5 * weights[q] * h);
    }
  return r;
}

TEST(LossQuadrature, RulesIntegratePolynomialsExactly) {
  const rule g3 = gauss_legendre3(), g5 = composite_gauss_legendre5(3);
  for (int d = 0; d <= 9; ++d) {
    double s3 = 0, s5 = 0;
    for (std::size_t q = 0; q < g3.x.size(); ++q) s3 += g3.w[q] * std::pow(g3.x[q], d);
    for (std::size_t q = 0; q < g5.x.size(); ++q) s5 += g5.w[q] * std::pow(g5.x[q], d);
    if (d <= 5) {
      EXPECT_NEAR(s3, 1.0 / (d + 1), 1e-15) << "degree " << d;
    }
    EXPECT_NEAR(s5, 1.0 / (d + 1), 1e-14) << "degree " << d;
  }
}

// The linear model's expected loss terms by quadrature, at per-feature densities p [n].
linear_loss_terms linear_terms_by_quadrature(const hand_model& h, const std::vector<double>& p) {
  const int n = h.n;
  const rule g = gauss_legendre3();
  const int Q = static_cast<int>(g.x.size()) + 1;  // node 0: x = 0 (inactive); 1 ... Q-1: the active values
  auto value = [&](int node) { return node == 0 ? 0.0 : g.x[node - 1]; };
  auto weight = [&](int i, int node) { return node == 0 ? 1 - p[i] : p[i] * g.w[node - 1]; };
  // Per feature i and node of x_i: the probability mass, and the conditional sums of e_i and e_i^2.
  std::vector<double> mass(n * Q, 0.0), sum_e(n * Q, 0.0), sum_e2(n * Q, 0.0);
  int points = 1;
  for (int i = 0; i < n; ++i) points *= Q;
  std::vector<double> x(n);
  std::vector<int> node(n);
  for (int c = 0; c < points; ++c) {
    double w = 1;
    for (int i = 0, r = c; i < n; ++i, r /= Q)
      node[i] = r % Q, x[i] = value(node[i]), w *= weight(i, node[i]);
    const std::vector<double> out = pre_activation(h, x);
    for (int i = 0; i < n; ++i) {
      const double e = x[i] - out[i];
      mass[i * Q + node[i]] += w, sum_e[i * Q + node[i]] += w * e, sum_e2[i * Q + node[i]] += w * e * e;
    }
  }
  linear_loss_terms t;
  for (int i = 0; i < n; ++i) {
    double mean = 0;  // E[e_i]
    for (int q = 0; q < Q; ++q) mean += sum_e[i * Q + q];
    double between = 0, within = 0;  // Var E[e_i | x_i], E Var[e_i | x_i]
    for (int q = 0; q < Q; ++q) {
      const double pq = mass[i * Q + q];
      if (pq == 0) continue;  // x_i = 0 never happens at p_i = 1
      const double cm = sum_e[i * Q + q] / pq;
      between += pq * (cm - mean) * (cm - mean);
      within += sum_e2[i * Q + q] - pq * cm * cm;
    }
    t.bias += h.I[i] * mean * mean / n;
    t.feature_benefit += h.I[i] * between / n;
    t.interference += h.I[i] * within / n;
    for (int q = 0; q < Q; ++q) t.total += h.I[i] * sum_e2[i * Q + q] / n;  // E[I_i e_i^2], averaged over i
  }
  return t;
}

TEST(LossQuadrature, LinearDecompositionIsTheExactExpectation) {
  const hand_model h = hand_made();
  for (const std::vector<double>& p :
       {std::vector<double>(4, 0.3), std::vector<double>(4, 0.05), std::vector<double>{0.3, 0.7, 0.1, 1.0}}) {
    const linear_loss_terms q = linear_terms_by_quadrature(h, p);
    const bool uniform = p[0] == p[1] && p[1] == p[2] && p[2] == p[3];
    const linear_loss_terms t =
        uniform ? linear_loss_decomposition(h.W.data(), h.b.data(), h.I.data(), p[0], h.n, h.m)
                : linear_loss_decomposition(h.W.data(), h.b.data(), h.I.data(), p.data(), h.n, h.m);
    const double tol = 1e-12;
    // Every term is large against the tolerance, so a wrong factor cannot hide.
    EXPECT_GT(q.feature_benefit, 1e-4);
    EXPECT_GT(q.interference, 1e-4);
    EXPECT_GT(q.bias, 1e-4);
    EXPECT_NEAR(q.total, q.feature_benefit + q.interference + q.bias, tol) << "the quadrature is consistent";
    EXPECT_NEAR(t.feature_benefit, q.feature_benefit, tol) << "p[0] = " << p[0];
    EXPECT_NEAR(t.interference, q.interference, tol) << "p[0] = " << p[0];
    EXPECT_NEAR(t.bias, q.bias, tol) << "p[0] = " << p[0];
    EXPECT_NEAR(t.total, q.total, tol) << "p[0] = " << p[0];
  }
}

// The ReLU output model on the 0- and 1-sparse inputs, term by term.
struct relu_quadrature {
  double feature_benefit = 0, interference = 0, at_one_benefit = 0, at_one_interference = 0, l0 = 0;
  double interference_own_weight = 0;  // sum_{i != j} I_i int ReLU(...)^2: the wrong weight, for contrast
  double smallest_term = 1e300;        // the smallest non-zero integral of a single (i, j)
  int nonzero_interference = 0;
};

relu_quadrature relu_terms_by_quadrature(const hand_model& h) {
  const int n = h.n;
  const rule g = composite_gauss_legendre5(20000);
  relu_quadrature r;
  std::vector<double> x(n, 0.0);
  const std::vector<double> zero = pre_activation(h, x);
  for (int j = 0; j < n; ++j) r.l0 += h.I[j] * std::pow(std::max(zero[j], 0.0), 2);
  for (int i = 0; i < n; ++i) {
    std::vector<double> own(n, 0.0);  // own[j]: int_0^1 of output j's squared error with only x_i = t on
    for (std::size_t q = 0; q < g.x.size(); ++q) {
      std::fill(x.begin(), x.end(), 0.0);
      x[i] = g.x[q];
      const std::vector<double> out = pre_activation(h, x);
      for (int j = 0; j < n; ++j) own[j] += g.w[q] * std::pow(x[j] - std::max(out[j], 0.0), 2);
    }
    std::fill(x.begin(), x.end(), 0.0);
    x[i] = 1;
    const std::vector<double> one = pre_activation(h, x);
    for (int j = 0; j < n; ++j) {
      const double at_one = std::pow(x[j] - std::max(one[j], 0.0), 2);
      if (j == i) {
        r.feature_benefit += h.I[i] * own[i];
        r.at_one_benefit += h.I[i] * at_one;
      } else {
        r.interference += h.I[j] * own[j];
        r.interference_own_weight += h.I[i] * own[j];
        r.at_one_interference += h.I[j] * at_one;
        if (own[j] > 0) ++r.nonzero_interference;
      }
      if (own[j] > 0) r.smallest_term = std::min(r.smallest_term, own[j]);
    }
  }
  return r;
}

TEST(LossQuadrature, ReluOneSparseTermsAreTheIntegrals) {
  const hand_model h = hand_made();
  const relu_quadrature q = relu_terms_by_quadrature(h);
  const double tol = 1e-8;
  // The integrals that make up the sums are all far above the tolerance, and most pairs interfere.
  EXPECT_GT(q.smallest_term, 1e-4);
  EXPECT_GE(q.nonzero_interference, 6);
  EXPECT_GT(q.l0, 1e-3);
  // Weighting output j's error by the active feature's importance instead would be caught.
  EXPECT_GT(std::abs(q.interference_own_weight - q.interference), 1000 * tol);
  for (double p : {0.3, 0.05, 0.001}) {
    const relu_loss_terms t = relu_loss_decomposition(h.W.data(), h.b.data(), h.I.data(), p, h.n, h.m);
    EXPECT_NEAR(t.feature_benefit, q.feature_benefit, tol);
    EXPECT_NEAR(t.interference, q.interference, tol);
    EXPECT_NEAR(t.l1, q.feature_benefit + q.interference, tol);
    EXPECT_NEAR(t.feature_benefit_at_one, q.at_one_benefit, 1e-12);
    EXPECT_NEAR(t.interference_at_one, q.at_one_interference, 1e-12);
    EXPECT_NEAR(t.l0, q.l0, 1e-12);
    // E[loss ; at most one active]: no feature active with probability (1 - p)^n, exactly feature i with
    // p (1 - p)^(n - 1) each, its value uniform.
    const double S = 1 - p;
    const double expected =
        std::pow(S, h.n) * q.l0 + p * std::pow(S, h.n - 1) * (q.feature_benefit + q.interference);
    EXPECT_NEAR(t.expected_one_sparse, expected, tol * p + 1e-12) << "p = " << p;
  }
}

}  // namespace
}  // namespace tms
