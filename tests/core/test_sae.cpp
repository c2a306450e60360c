// Sparse autoencoders on toy models: each family's gradients by finite differences (double precision), the
// one-to-one assignment against brute force, every metric at its exact value on hand-made decoders, a
// recovery of orthogonal features, and results independent of the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/analysis_sae.hpp"
#include "core/errors.hpp"
#include "core/kernels/sae_fast.hpp"
#include "core/model.hpp"
#include "core/model_sae.hpp"
#include "core/sae_trainer.hpp"
#include "isa_levels.hpp"

namespace tms {
namespace {

struct sae_problem {
  sae_layout L;
  sae_settings s;
  int B = 7;
  std::vector<double> params, h;
  sae_workspace<double> ws;
};

sae_problem make_sae_problem(sae_kind kind, unsigned seed, int m, int d, int B, double coefficient) {
  sae_problem p;
  p.L = sae_tensors(kind, m, d);
  p.B = B;
  p.s.kind = kind;
  p.s.coefficient = coefficient;
  p.s.bandwidth = 0.05;
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0, 0.5);
  p.params.resize(p.L.params);
  for (auto& v : p.params) v = normal(gen);
  if (const tensor_spec* t = p.L.find("log_threshold"))
    for (std::size_t j = 0; j < t->size; ++j)
      p.params[t->offset + j] = std::log(0.2 + 0.3 * std::abs(normal(gen)));
  p.h.resize(static_cast<std::size_t>(B) * m);
  for (auto& v : p.h) v = normal(gen) + 0.3;
  p.ws.reserve(B, m, d);
  return p;
}

// How far the forward's values are from the kinks a finite-difference step must not cross.
double kink_distance(sae_problem& p) {
  sae_forward(p.L, p.params.data(), p.h.data(), p.B, p.s, p.ws);
  const int d = p.L.d;
  double far = INFINITY;
  const auto pre = [&](int q, int l) { return p.ws.pre[static_cast<std::size_t>(q) * d + l]; };
  for (int q = 0; q < p.B; ++q)
    for (int l = 0; l < d; ++l) {
      far = std::min(far, std::abs(pre(q, l)));
      if (p.s.kind == sae_kind::gated)
        far = std::min(far, std::abs(p.ws.mag[static_cast<std::size_t>(q) * d + l]));
      if (p.s.kind == sae_kind::jumprelu)
        far = std::min(far, std::abs(pre(q, l) - std::exp(p.params[p.L.at("log_threshold").offset + l])));
    }
  if (p.s.kind == sae_kind::topk || p.s.kind == sae_kind::batch_topk) {
    // Neighbouring values in the selection's order: a step must not swap the k-th and the next.
    std::vector<double> v;
    if (p.s.kind == sae_kind::topk) {
      for (int q = 0; q < p.B; ++q) {
        std::vector<double> row(p.ws.pre.begin() + q * d, p.ws.pre.begin() + (q + 1) * d);
        std::sort(row.rbegin(), row.rend());
        const int k = static_cast<int>(p.s.coefficient);
        if (k < d) far = std::min(far, row[k - 1] - row[k]);
      }
    } else {
      std::vector<double> all(p.ws.pre.begin(), p.ws.pre.begin() + static_cast<std::size_t>(p.B) * d);
      std::sort(all.rbegin(), all.rend());
      const auto keep = static_cast<std::size_t>(p.s.coefficient * p.B);
      if (keep < all.size()) far = std::min(far, all[keep - 1] - all[keep]);
    }
  }
  return far;
}

std::vector<double> analytic(sae_problem& p) {
  std::vector<double> g(p.params.size(), 0.0);
  sae_loss_and_grad(p.L, g.data(), p.params.data(), p.h.data(), p.B, p.s, p.ws);
  return g;
}

// Central differences of f(params) for the entries of the named tensors.
template <class F>
void expect_matches(sae_problem& p, const std::vector<double>& g, const std::vector<std::string>& names,
                    F&& f, const char* what) {
  const double step = 1e-6;
  for (const auto& name : names) {
    const tensor_spec& t = p.L.at(name);
    for (std::size_t j = 0; j < t.size; ++j) {
      std::vector<double> plus = p.params, minus = p.params;
      plus[t.offset + j] += step;
      minus[t.offset + j] -= step;
      const double fd = (f(plus) - f(minus)) / (2 * step);
      EXPECT_NEAR(g[t.offset + j], fd, 1e-6 * std::max(1.0, std::abs(fd)))
          << what << " " << name << "[" << j << "]";
    }
  }
}

double total_at(sae_problem& p, const std::vector<double>& params) {
  return sae_loss(p.L, params.data(), p.h.data(), p.B, p.s, p.ws).total;
}

TEST(SaeGradients, ReluL1MatchesFiniteDifferences) {
  for (unsigned seed : {1u, 2u, 3u}) {
    sae_problem p = make_sae_problem(sae_kind::relu, seed, 5, 9, 7, 0.3);
    ASSERT_GT(kink_distance(p), 1e-4);
    const auto g = analytic(p);
    expect_matches(
        p, g, {"W_enc", "b_enc", "W_dec", "b_dec"}, [&](const auto& x) { return total_at(p, x); }, "relu");
  }
}

TEST(SaeGradients, TopKAndBatchTopKMatchFiniteDifferences) {
  for (sae_kind kind : {sae_kind::topk, sae_kind::batch_topk})
    for (unsigned seed : {4u, 5u}) {
      sae_problem p = make_sae_problem(kind, seed, 5, 9, 7, 3);
      ASSERT_GT(kink_distance(p), 1e-4);
      const auto g = analytic(p);
      expect_matches(
          p, g, {"W_enc", "b_enc", "W_dec", "b_dec"}, [&](const auto& x) { return total_at(p, x); },
          kind == sae_kind::topk ? "topk" : "batch_topk");
    }
}

// The AuxK loss against the test's own implementation of it, with e = h - h_hat held at its value: the
// gradient of reconstruction + aux_coefficient MSE(e_hat, e_0).
TEST(SaeGradients, AuxKMatchesFiniteDifferencesWithTheResidualHeld) {
  sae_problem p = make_sae_problem(sae_kind::topk, 6, 5, 9, 7, 2);
  p.s.aux_k = 3;
  p.s.aux_coefficient = 0.7;
  for (int l = 0; l < 9; l += 2) p.ws.dead[l] = 1;  // 5 dead latents
  ASSERT_GT(kink_distance(p), 1e-4);
  sae_forward(p.L, p.params.data(), p.h.data(), p.B, p.s, p.ws);
  const int m = 5, d = 9;
  std::vector<double> e0(p.h.size());
  for (std::size_t e = 0; e < e0.size(); ++e) e0[e] = p.h[e] - p.ws.h_hat[e];
  const auto g = analytic(p);
  EXPECT_GT(sae_loss(p.L, p.params.data(), p.h.data(), p.B, p.s, p.ws).auxiliary, 0);
  const auto reference = [&](const std::vector<double>& x) {
    sae_settings plain = p.s;
    plain.aux_coefficient = 0;
    const double rec = sae_loss(p.L, x.data(), p.h.data(), p.B, plain, p.ws).total;
    const double* W_dec = x.data() + p.L.at("W_dec").offset;
    double sq = 0;
    for (int q = 0; q < p.B; ++q) {
      std::vector<std::pair<double, int>> dead;
      for (int l = 0; l < d; ++l)
        if (p.ws.dead[l]) dead.push_back({p.ws.pre[q * d + l], l});
      std::sort(dead.begin(), dead.end(), [](auto a, auto b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      std::vector<double> e_hat(m, 0.0);
      for (int i = 0; i < 3; ++i)
        if (dead[i].first > 0)
          for (int j = 0; j < m; ++j) e_hat[j] += dead[i].first * W_dec[dead[i].second * m + j];
      for (int j = 0; j < m; ++j) sq += (e_hat[j] - e0[q * m + j]) * (e_hat[j] - e0[q * m + j]);
    }
    return rec + 0.7 * sq / (p.B * m);
  };
  expect_matches(p, g, {"W_enc", "b_enc", "W_dec", "b_dec"}, reference, "auxk");
}

TEST(SaeGradients, JumpReluMatchesFiniteDifferencesAwayFromTheThreshold) {
  for (unsigned seed : {7u, 8u}) {
    sae_problem p = make_sae_problem(sae_kind::jumprelu, seed, 5, 9, 7, 0.4);
    p.s.bandwidth = 1e-3;  // no pre-activation inside the window: the threshold's gradient is 0 here
    ASSERT_GT(kink_distance(p), 1e-3);
    const auto g = analytic(p);
    expect_matches(
        p, g, {"W_enc", "b_enc", "W_dec", "b_dec"}, [&](const auto& x) { return total_at(p, x); },
        "jumprelu");
    for (std::size_t j = 0; j < 9; ++j) EXPECT_EQ(g[p.L.at("log_threshold").offset + j], 0.0);
  }
}

// The straight-through threshold gradient: its L0 part equals the derivative of the L0 with each Heaviside
// replaced by the kernel's integral (a ramp of width eps), and its reconstruction part is the test's own
// sum of -(theta / eps) K((pre - theta) / eps) dL/dz, both times theta for log_threshold.
TEST(SaeGradients, JumpReluThresholdIsTheStraightThroughEstimate) {
  sae_problem p = make_sae_problem(sae_kind::jumprelu, 9, 5, 9, 40, 0.4);
  p.s.bandwidth = 0.3;  // wide enough that many pre-activations fall inside
  const int m = 5, d = 9, B = 40;
  const tensor_spec& lt = p.L.at("log_threshold");
  const auto with_coefficient = [&](double c) {
    p.s.coefficient = c;
    return analytic(p);
  };
  const auto g0 = with_coefficient(0), g1 = with_coefficient(0.4);
  const double eps = 0.3;
  int inside = 0;
  for (int l = 0; l < d; ++l) {
    const double theta = std::exp(p.params[lt.offset + l]);
    // L0 part: d/dlog_theta of 0.4 / B sum_s ramp((pre - theta) / eps), ramp = clamp(u + 1/2, 0, 1).
    const auto smoothed = [&](double log_theta) {
      const double th = std::exp(log_theta);
      double total = 0;
      for (int q = 0; q < B; ++q) total += std::clamp((p.ws.pre[q * d + l] - th) / eps + 0.5, 0.0, 1.0);
      return 0.4 * total / B;
    };
    const double x = p.params[lt.offset + l], step = 1e-7;
    const double fd = (smoothed(x + step) - smoothed(x - step)) / (2 * step);
    EXPECT_NEAR(g1[lt.offset + l] - g0[lt.offset + l], fd, 1e-6 * std::max(1.0, std::abs(fd)))
        << "latent " << l;
    // Reconstruction part.
    const double* W_dec = p.params.data() + p.L.at("W_dec").offset;
    double expected = 0;
    for (int q = 0; q < B; ++q) {
      const double pre = p.ws.pre[q * d + l];
      if (!(std::abs(pre - theta) < eps / 2)) continue;
      ++inside;
      double dz = 0;
      for (int j = 0; j < m; ++j) dz += p.ws.r[q * m + j] * W_dec[l * m + j];
      expected += -(theta / eps) * dz;
    }
    EXPECT_NEAR(g0[lt.offset + l], theta * expected, 1e-12);
  }
  EXPECT_GT(inside, 20);
}

// Gated: the frozen decoder means W_dec and b_dec get the gradient of reconstruction + L1 only, every
// other tensor that of the whole loss.
TEST(SaeGradients, GatedMatchesFiniteDifferencesWithTheFrozenDecoder) {
  for (unsigned seed : {10u, 11u}) {
    sae_problem p = make_sae_problem(sae_kind::gated, seed, 5, 9, 7, 0.3);
    ASSERT_GT(kink_distance(p), 1e-4);
    const auto g = analytic(p);
    EXPECT_GT(sae_loss(p.L, p.params.data(), p.h.data(), p.B, p.s, p.ws).auxiliary, 0);
    expect_matches(
        p, g, {"W_gate", "b_gate", "r_mag", "b_mag"}, [&](const auto& x) { return total_at(p, x); }, "gated");
    // The frozen copies: the auxiliary reconstruction's decoder and output bias held at their values, its
    // gate pre-activations live (b_dec reaches them through h - b_dec).
    const std::vector<double> frozen = p.params;
    const int m = 5, d = 9;
    expect_matches(
        p, g, {"W_dec", "b_dec"},
        [&](const auto& x) {
          const auto t = sae_loss(p.L, x.data(), p.h.data(), p.B, p.s, p.ws);
          const double* W_dec = frozen.data() + p.L.at("W_dec").offset;
          const double* b_dec = frozen.data() + p.L.at("b_dec").offset;
          double sq = 0;
          for (int q = 0; q < p.B; ++q)
            for (int j = 0; j < m; ++j) {
              double out = b_dec[j];
              for (int l = 0; l < d; ++l) out += std::max(0.0, p.ws.pre[q * d + l]) * W_dec[l * m + j];
              sq += (out - p.h[q * m + j]) * (out - p.h[q * m + j]);
            }
          return t.reconstruction + t.sparsity + sq / (p.B * m);
        },
        "gated decoder");
  }
}

TEST(SaeDecoder, ProjectionAndNormalisationKeepUnitRows) {
  sae_problem p = make_sae_problem(sae_kind::relu, 12, 5, 9, 7, 0.3);
  auto g = analytic(p);
  sae_normalise_decoder(p.L, p.params.data());
  sae_project_decoder_grad(p.L, g.data(), p.params.data());
  const std::size_t off = p.L.at("W_dec").offset;
  for (int l = 0; l < 9; ++l) {
    double sq = 0, along = 0;
    for (int j = 0; j < 5; ++j) {
      sq += p.params[off + l * 5 + j] * p.params[off + l * 5 + j];
      along += p.params[off + l * 5 + j] * g[off + l * 5 + j];
    }
    EXPECT_NEAR(sq, 1.0, 1e-12);
    EXPECT_NEAR(along, 0.0, 1e-12);
  }
}

// The SAEs' inputs are the toy model's own hidden activations: model_hidden gives model_forward's h, bit for
// bit, for every kind (with and without a hidden bias).
TEST(SaeData, HiddenActivationsAreTheModelsOwn) {
  std::mt19937 gen(21);
  std::normal_distribution<float> normal(0, 0.7f);
  std::uniform_real_distribution<float> unit(0, 1);
  const int n = 11, m = 4, B = 9;
  for (model_kind kind :
       {model_kind::linear, model_kind::relu_output, model_kind::relu_hidden, model_kind::abs})
    for (bool bias : {false, true}) {
      if (bias && (kind == model_kind::linear || kind == model_kind::relu_output)) continue;
      const model_layout L = model_tensors(kind, n, m, bias);
      std::vector<float> params(L.params);
      for (auto& v : params) v = normal(gen);
      model_workspace<float> ws;
      ws.reserve(B, n, m);
      int nnz = 0;
      for (int q = 0; q < B; ++q) {
        ws.x.offset[q] = nnz;
        for (int i = 0; i < n; ++i)
          if (unit(gen) < 0.4f) {
            ws.x.index[nnz] = i;
            ws.x.value[nnz++] = 2 * unit(gen) - 1;
          }
      }
      ws.x.offset[B] = nnz;
      model_forward(L, params.data(), ws);
      const std::vector<float> h = ws.h;
      std::fill(ws.h.begin(), ws.h.end(), -7.0f);
      model_hidden(L, params.data(), ws);
      EXPECT_EQ(ws.h, h) << model_name(kind) << (bias ? " with a hidden bias" : "");
    }
}

// The kernels (model_sae.hpp's float maths built for each instruction set) against that maths in double, on
// odd sizes (tiles of 64 and 16 latents and a remainder), for every family.
class SaeKernel : public ::testing::TestWithParam<kernels::isa> {};

TEST_P(SaeKernel, MatchesTheReferenceOnOddSizes) {
  if (!kernels::isa_supported(GetParam())) GTEST_SKIP() << "this CPU lacks " << kernels::isa_name(GetParam());
  const kernels::sae_step_fn step = kernels::sae_step_kernel(GetParam());
  const kernels::sae_forward_fn forward = kernels::sae_forward_kernel(GetParam());
  for (sae_kind kind :
       {sae_kind::relu, sae_kind::topk, sae_kind::batch_topk, sae_kind::jumprelu, sae_kind::gated})
    for (int d : {1, 17, 83}) {
      const int m = 7, B = 13;
      sae_problem p =
          make_sae_problem(kind, 40 + d, m, d, B, sae_coefficient_is_k(kind) ? std::min(d, 3) : 0.2);
      p.s.bandwidth = 0.3;
      if (sae_coefficient_is_k(kind)) {
        p.s.aux_k = 2;
        p.s.aux_coefficient = 0.5;
        for (int l = 0; l < d; l += 3) p.ws.dead[l] = 1;
      }
      const auto reference = analytic(p);
      const double ref_loss = sae_loss(p.L, p.params.data(), p.h.data(), B, p.s, p.ws).total;
      std::vector<float> params(p.params.begin(), p.params.end()), h(p.h.begin(), p.h.end()),
          grad(params.size(), 0);
      sae_workspace<float> ws;
      ws.reserve(B, m, d);
      ws.dead = p.ws.dead;
      const double loss = step(p.L, grad.data(), params.data(), h.data(), B, p.s, ws).total;
      SCOPED_TRACE(std::string(sae_kind_name(kind)) + " d = " + std::to_string(d));
      EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(1.0, ref_loss));
      for (std::size_t j = 0; j < grad.size(); ++j)
        ASSERT_NEAR(grad[j], reference[j], 1e-4 * std::max(1.0, std::abs(reference[j]))) << "entry " << j;
      forward(p.L, params.data(), h.data(), B, p.s, ws);
      sae_forward(p.L, p.params.data(), p.h.data(), B, p.s, p.ws);
      for (std::size_t e = 0; e < ws.z.size() && e < static_cast<std::size_t>(B) * d; ++e)
        ASSERT_NEAR(ws.z[e], p.ws.z[e], 1e-5) << "latent entry " << e;
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, SaeKernel, testing::isa_levels(), testing::isa_test_name);

// ---------------------------------------------------------------------------------------------------------
// The assignment.

double brute_force_best(const std::vector<double>& s, int rows, int cols) {
  const int small = std::min(rows, cols), large = std::max(rows, cols);
  std::vector<int> perm(large);
  std::iota(perm.begin(), perm.end(), 0);
  double best = -INFINITY;
  do {
    double total = 0;
    for (int i = 0; i < small; ++i)
      total += rows <= cols ? s[static_cast<std::size_t>(i) * cols + perm[i]]
                            : s[static_cast<std::size_t>(perm[i]) * cols + i];
    best = std::max(best, total);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(SaeAssignment, HungarianEqualsBruteForce) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{5, 5}, {4, 7}, {7, 4}, {1, 6}, {6, 1}, {3, 3}}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> s(static_cast<std::size_t>(rows) * cols);
      for (auto& v : s) v = u(gen);
      const auto a = max_assignment(s, rows, cols);
      double total = 0;
      std::vector<int> used(cols, 0);
      int assigned = 0;
      for (int i = 0; i < rows; ++i) {
        if (a[i] < 0) continue;
        ASSERT_LT(a[i], cols);
        EXPECT_EQ(used[a[i]]++, 0) << "a column used twice";
        total += s[static_cast<std::size_t>(i) * cols + a[i]];
        ++assigned;
      }
      EXPECT_EQ(assigned, std::min(rows, cols));
      EXPECT_NEAR(total, brute_force_best(s, rows, cols), 1e-12) << rows << "x" << cols;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The metrics, exactly, on hand-made decoders.

// A batch of compressed rows from dense rows.
sparse_batch<float> rows_of(const std::vector<std::vector<float>>& x) {
  sparse_batch<float> b;
  b.reserve(static_cast<int>(x.size()), static_cast<int>(x[0].size()));
  int nnz = 0;
  for (std::size_t s = 0; s < x.size(); ++s) {
    b.offset[s] = nnz;
    for (std::size_t i = 0; i < x[s].size(); ++i)
      if (x[s][i] != 0) {
        b.index[nnz] = static_cast<int>(i);
        b.value[nnz++] = x[s][i];
      }
  }
  b.offset[x.size()] = nnz;
  return b;
}

TEST(SaeMetrics, ExactOnAHandMadeDecoder) {
  // Toy: n = 3 features in m = 2 dimensions: f0 = e0, f1 = e1, and f2 unrepresented (norm 0.1).
  const std::vector<float> W = {1, 0, 0, 1, 0.1f, 0};
  // SAE: d = 4 latents; latent 0 = f1 exactly, latent 1 at 60 degrees from f0, latent 2 = -f0, latent 3
  // (never fires) = (f0 + f1) / sqrt 2.
  const float r2 = std::sqrt(0.5f);
  const std::vector<float> W_dec = {0, 1, 0.5f, std::sqrt(3.0f) / 2, -1, 0, r2, r2};
  sae_scorer scorer(W.data(), 3, 2, W_dec.data(), 4);
  // Four samples: x, h = W x, z by hand, h_hat by hand.
  const auto x = rows_of({{1, 0, 0}, {0, 0.5f, 0}, {1, 1, 0}, {0, 0, 0}});
  const std::vector<float> h = {1, 0, 0, 0.5f, 1, 1, 0, 0};
  const std::vector<float> z = {0.5f, 1, 0, 0,  //
                                0.5f, 0, 0, 0,  //
                                1,    0, 0, 0,  //
                                0,    0, 0, 0};
  const std::vector<float> h_hat = {1, 0, 0, 0.5f, 0, 1, 0, 0};
  scorer.add(x, h.data(), z.data(), h_hat.data(), 4);
  const sae_metrics r = scorer.finish();
  EXPECT_EQ(r.represented, 2);
  // Cosines: f0 with latents (0, 0.5, -1, r2), f1 with (1, sqrt3/2, 0, r2). Best assignment: f1 -> 0 (1),
  // f0 -> 3 (0.707) vs f0 -> 1 (0.5) with f1 -> 0: f0 -> 3.
  EXPECT_EQ(r.feature_latent[0], 3);
  EXPECT_EQ(r.feature_latent[1], 0);
  EXPECT_EQ(r.feature_latent[2], -1);
  EXPECT_NEAR(r.matched_cosine, (1.0 + std::sqrt(0.5)) / 2, 1e-6);
  EXPECT_NEAR(r.mmcs, (std::sqrt(0.5) + 1.0) / 2, 1e-6);
  EXPECT_EQ(r.recovered, 1);
  // Latent 0 fires on samples 0, 1, 2; feature 1 is active on 1, 2: precision 2/3, recall 1. Latent 3
  // never fires: precision 0 (no firing), recall 0.
  EXPECT_NEAR(r.latent_precision[0], 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.latent_recall[0], 1.0, 1e-12);
  EXPECT_EQ(r.latent_precision[3], 0.0);
  EXPECT_EQ(r.latent_recall[3], 0.0);
  EXPECT_NEAR(r.precision, (2.0 / 3 + 0) / 2, 1e-12);
  EXPECT_EQ(r.dead, 2);  // latents 2 and 3
  EXPECT_NEAR(r.l0, (2 + 1 + 1 + 0) / 4.0, 1e-12);
  // Errors: sample 2 reconstructs (0, 1) for (1, 1): one unit squared. MSE = 1 / (4 x 2).
  EXPECT_NEAR(r.mse, 1.0 / 8, 1e-12);
  // Centred sum of squares of h: mean (0.5, 0.375); sum ||h||^2 = 1 + 0.25 + 2 = 3.25, minus 4 |mean|^2.
  const double centred = 3.25 - 4 * (0.5 * 0.5 + 0.375 * 0.375);
  EXPECT_NEAR(r.explained_variance, 1 - 1.0 / centred, 1e-12);
  // gamma = sum ||h_hat||^2 / sum h_hat . h = (1 + 0.25 + 1) / (1 + 0.25 + 1).
  EXPECT_NEAR(r.reconstruction_bias, 1.0, 1e-12);
  // Absorption of f0: active on samples 0 and 2; its latent 3 is silent on both; on sample 0 latent 1 (cos
  // 0.5 >= 0.5) fires, on sample 2 only latent 0 (cos 0): share 1/2. f1: its latent fires on both: 0.
  EXPECT_NEAR(r.feature_absorption[0], 0.5, 1e-12);
  EXPECT_NEAR(r.feature_absorption[1], 0.0, 1e-12);
  EXPECT_EQ(r.absorbed, 1);
  // Splitting: f0's detectors: latent 1 fires once, on a sample with f0 (precision 1, share 1/2): one
  // detector; latent 0 has precision 2/3 for f0... below 0.9. Not split.
  EXPECT_EQ(r.feature_detectors[0], 1);
  EXPECT_EQ(r.split, 0);
  // MCC: |corr| of (z_0, x_1) over the 4 samples: z_0 = (.5, .5, 1, 0), x_1 = (0, .5, 1, 0).
  const auto corr = [](std::vector<double> a, std::vector<double> b) {
    const double ma = std::accumulate(a.begin(), a.end(), 0.0) / 4,
                 mb = std::accumulate(b.begin(), b.end(), 0.0) / 4;
    double c = 0, va = 0, vb = 0;
    for (int i = 0; i < 4; ++i) {
      c += (a[i] - ma) * (b[i] - mb);
      va += (a[i] - ma) * (a[i] - ma);
      vb += (b[i] - mb) * (b[i] - mb);
    }
    return std::abs(c) / std::sqrt(va * vb);
  };
  // Assignment by |corr|: x_0 = (1, 0, 1, 0) with z_0 or z_1 = (1, 0, 0, 0); x_1 with z_0.
  const double c00 = corr({.5, .5, 1, 0}, {1, 0, 1, 0}), c01 = corr({1, 0, 0, 0}, {1, 0, 1, 0});
  const double c10 = corr({.5, .5, 1, 0}, {0, .5, 1, 0}), c11 = corr({1, 0, 0, 0}, {0, .5, 1, 0});
  EXPECT_NEAR(r.mcc, std::max(c00 + c11, c01 + c10) / 2, 1e-9);
}

// ---------------------------------------------------------------------------------------------------------
// Training.

// A toy model whose n = 6 features are orthogonal in m = 6 (W = I), sparse (density 0.1).
train_config orthogonal_toy(model_weights& weights) {
  train_config toy;
  toy.model = model_kind::relu_output;
  toy.features = 6;
  toy.hidden = 6;
  toy.density = {0.05};
  toy.batch = 256;
  const model_layout L = model_tensors(toy);
  weights.assign(L, 1);
  auto& W = weights["W"];
  for (int i = 0; i < 6; ++i) W[i * 6 + i] = 1.0f;
  return toy;
}

TEST(SaeTraining, RecoversOrthogonalFeatures) {
  model_weights weights;
  const train_config toy = orthogonal_toy(weights);
  struct recipe {
    sae_kind kind;
    double coefficient;
  };
  // The coefficients where each recovers the features: TopK needs k = 2 for the samples with two features
  // (it then fills both slots, so its precision is not checked: a second latent fires weakly on samples with
  // one), BatchTopK the data's mean 0.3 active features, JumpReLU misses values below its threshold (recall
  // about 0.9 at its initial 0.1).
  for (recipe r : {recipe{sae_kind::relu, 0.01}, recipe{sae_kind::topk, 2}, recipe{sae_kind::batch_topk, 0.3},
                   recipe{sae_kind::jumprelu, 0.001}, recipe{sae_kind::gated, 0.03}}) {
    sae_config c;
    c.kind = r.kind;
    c.widths = {6};
    c.coefficients = {r.coefficient};
    c.steps = 3000;
    c.batch = 256;
    c.lr = 3e-3;
    c.eval_samples = 8192;
    c.threads = 1;
    const sae_result out = train_saes(toy, weights, c);
    const sae_metrics& m = out.metrics[0];
    SCOPED_TRACE(std::string(sae_kind_name(r.kind)));
    EXPECT_EQ(m.represented, 6);
    EXPECT_EQ(m.recovered, 6);
    EXPECT_GT(m.matched_cosine, 0.98);
    EXPECT_GT(m.mcc, 0.95);
    if (r.kind != sae_kind::topk) {
      EXPECT_GT(m.precision, 0.95);
    }
    EXPECT_GT(m.recall, 0.85);
    EXPECT_GT(m.explained_variance, 0.95);
    EXPECT_EQ(m.dead, 0);
  }
}

TEST(SaeTraining, SameBitsForAnyThreadCount) {
  model_weights weights;
  const train_config toy = orthogonal_toy(weights);
  sae_config c;
  c.kind = sae_kind::relu;
  c.widths = {4, 8};
  c.coefficients = {0.01, 0.1};
  c.steps = 300;
  c.resample = sae_resample::advanced;
  c.resample_every = 100;
  c.dead_window = 50;
  c.eval_samples = 1000;
  c.threads = 1;
  const sae_result one = train_saes(toy, weights, c);
  c.threads = 2;
  const sae_result two = train_saes(toy, weights, c);
  ASSERT_EQ(one.S(), 4);
  for (std::int64_t s = 0; s < 4; ++s) {
    EXPECT_EQ(one.params[s], two.params[s]);
    EXPECT_EQ(one.final_loss[s], two.final_loss[s]);
    EXPECT_EQ(one.metrics[s].mcc, two.metrics[s].mcc);
  }
  // The coefficient changes the training, not the start: the two coefficients of one width differ.
  EXPECT_NE(one.params[0], one.params[1]);
}

TEST(SaeTraining, ResamplingRevivesDeadLatents) {
  model_weights weights;
  const train_config toy = orthogonal_toy(weights);
  sae_config c;
  c.kind = sae_kind::relu;
  c.widths = {12};
  c.coefficients = {0.05};
  c.steps = 2000;
  c.eval_samples = 4000;
  c.threads = 1;
  const sae_result plain = train_saes(toy, weights, c);
  c.resample = sae_resample::simple;
  c.resample_every = 500;
  c.dead_window = 200;
  const sae_result resampled = train_saes(toy, weights, c);
  EXPECT_EQ(plain.resampled[0], 0);
  EXPECT_GT(resampled.resampled[0], 0);
}

TEST(SaeConfig, RefusesWhatIsNotAllowed) {
  model_weights weights;
  const train_config toy = orthogonal_toy(weights);
  const auto refuses = [&](auto edit, const std::string& field) {
    sae_config c;
    c.steps = 10;
    edit(c);
    try {
      train_saes(toy, weights, c);
      ADD_FAILURE() << "accepted a bad " << field;
    } catch (const usage_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(field + ":", 0), 0u) << e.what();
    }
  };
  refuses(
      [](sae_config& c) {
        c.kind = sae_kind::topk;
        c.coefficients = {50};
      },
      "coefficients");
  refuses(
      [](sae_config& c) {
        c.kind = sae_kind::topk;
        c.coefficients = {2.5};
      },
      "coefficients");
  refuses(
      [](sae_config& c) {
        c.kind = sae_kind::batch_topk;
        c.coefficients = {0.5 / 1024};
      },
      "coefficients");
  refuses([](sae_config& c) { c.coefficients = {-1}; }, "coefficients");
  refuses([](sae_config& c) { c.widths = {}; }, "widths");
  refuses([](sae_config& c) { c.widths = {0}; }, "widths");
  refuses([](sae_config& c) { c.instances = {1}; }, "instances");
  refuses(
      [](sae_config& c) {
        c.kind = sae_kind::topk;
        c.coefficients = {1};
        c.resample = sae_resample::simple;
      },
      "resample");
  refuses([](sae_config& c) { c.lr = 0; }, "lr");
  EXPECT_THROW(parse_sae_kind("vanilla"), usage_error);
}

}  // namespace
}  // namespace tms
