#include "core/analysis_neurons.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/errors.hpp"

namespace tms {

neuron_metrics measure_neurons(const float* W, int n, int m) {
  if (n < 1 || m < 1) throw usage_error("W: expected at least one feature and one neuron");
  neuron_metrics out;
  out.norm.assign(m, 0.0);
  out.top_share.assign(m, 0.0);
  out.features.assign(m, 0.0);
  out.primary.assign(m, -1);
  out.secondary.assign(m, -1);
  for (int j = 0; j < m; ++j) {
    double sq = 0, fourth = 0, first = -1, second = -1;
    int first_i = -1, second_i = -1;
    for (int i = 0; i < n; ++i) {
      const double w = W[static_cast<std::size_t>(i) * m + j], w2 = w * w;
      sq += w2;
      fourth += w2 * w2;
      if (w2 > first) {
        second = first, second_i = first_i;
        first = w2, first_i = i;
      } else if (w2 > second) {
        second = w2, second_i = i;
      }
    }
    out.norm[j] = std::sqrt(sq);
    if (out.norm[j] < dead_neuron_norm) {
      ++out.dead;
      continue;
    }
    out.top_share[j] = first / sq;
    out.features[j] = sq * sq / fourth;
    out.primary[j] = first_i;
    out.secondary[j] = second > 0 ? second_i : -1;
    if (out.top_share[j] >= monosemantic_share)
      ++out.monosemantic;
    else
      ++out.polysemantic;
  }
  return out;
}

std::string privileged_regime(int n, int m, int represented, int monosemantic) {
  if (n != 10 || m != 5) return "other";
  struct regime {
    int represented, monosemantic;
    const char* name;
  };
  static constexpr regime regimes[] = {
      {5, 5, "all monosemantic neurons"},       {6, 3, "three features in two neurons"},
      {7, 2, "five features in three neurons"}, {7, 1, "six features in four neurons"},
      {8, 0, "eight features in five neurons"}, {10, 0, "features are pairs of neurons"}};
  for (const auto& r : regimes)
    if (r.represented == represented && r.monosemantic == monosemantic) return r.name;
  return "other";
}

namespace {

double at(const float* W, int m, int i, int j) {
  return W[static_cast<std::size_t>(i) * m + j];
}

void check_abs(const float* W_in, const float* W_out, int n, int m) {
  if (n < 1 || m < 1) throw usage_error("W_in, W_out: expected at least one feature and one neuron");
  if (W_in == nullptr || W_out == nullptr) throw usage_error("W_in, W_out: expected both tensors");
}

}  // namespace

abs_sides measure_abs_sides(const float* W_in, const float* W_out, int n, int m) {
  check_abs(W_in, W_out, n, m);
  const neuron_metrics nm = measure_neurons(W_in, n, m);
  abs_sides out;
  out.positive_gain.assign(n, 0.0);
  out.negative_gain.assign(n, 0.0);
  out.positive.assign(n, {});
  out.negative.assign(n, {});
  out.paired.assign(n, 0);
  out.monosemantic_pair.assign(n, 0);
  for (int j = 0; j < m; ++j) {
    const int i = nm.primary[j];
    if (i < 0) continue;  // dead
    const double w = at(W_in, m, i, j), gain = std::abs(w) * at(W_out, m, i, j);
    if (gain <= 0) continue;  // fires on x_i but does not add to y'_i: no part of computing |x_i|
    (w > 0 ? out.positive_gain : out.negative_gain)[i] += gain;
    (w > 0 ? out.positive : out.negative)[i].push_back(j);
  }
  for (int i = 0; i < n; ++i) {
    if (out.positive_gain[i] < abs_side_gain || out.negative_gain[i] < abs_side_gain) continue;
    out.paired[i] = 1;
    ++out.pairs;
    bool mono = true;
    for (const auto* side : {&out.positive[i], &out.negative[i]})
      for (int j : *side) mono = mono && nm.top_share[j] >= monosemantic_share;
    out.monosemantic_pair[i] = mono ? 1 : 0;
    out.monosemantic_pairs += mono ? 1 : 0;
  }
  return out;
}

namespace {

// y'_k of the abs model on x = sign e_i (hidden ReLU, then the output ReLU with its bias).
double one_hot_output(const float* W_in, const float* W_out, const float* b, int m, int i, double sign,
                      int k) {
  double z = b[k];
  for (int j = 0; j < m; ++j) z += at(W_out, m, k, j) * std::max(0.0, sign * at(W_in, m, i, j));
  return std::max(0.0, z);
}

}  // namespace

abs_outputs abs_one_hot_outputs(const float* W_in, const float* W_out, const float* b, int n, int m) {
  check_abs(W_in, W_out, n, m);
  if (b == nullptr) throw usage_error("b: expected the output bias");
  abs_outputs out;
  out.positive.assign(n, 0.0);
  out.negative.assign(n, 0.0);
  out.zero.assign(n, 0.0);
  for (int i = 0; i < n; ++i) {
    out.zero[i] = std::max(0.0, static_cast<double>(b[i]));
    out.positive[i] = one_hot_output(W_in, W_out, b, m, i, 1.0, i) - out.zero[i];
    out.negative[i] = one_hot_output(W_in, W_out, b, m, i, -1.0, i) - out.zero[i];
    if (out.positive[i] >= abs_computed_output && out.negative[i] >= abs_computed_output) ++out.computed;
  }
  return out;
}

std::vector<asymmetric_neuron> asymmetric_neurons(const float* W_in, const float* W_out, const float* b,
                                                  int n, int m) {
  check_abs(W_in, W_out, n, m);
  if (b == nullptr) throw usage_error("b: expected the output bias");
  const neuron_metrics nm = measure_neurons(W_in, n, m);
  std::vector<asymmetric_neuron> out;
  for (int j = 0; j < m; ++j) {
    const int a = nm.primary[j], w = nm.secondary[j];
    if (a < 0 || w < 0) continue;  // dead, or a single input weight: nothing shares the neuron
    asymmetric_neuron t;
    t.neuron = j, t.strong = a, t.weak = w;
    t.strong_weight = at(W_in, m, a, j);
    t.weak_weight = at(W_in, m, w, j);
    t.opposite_signs = t.strong_weight * t.weak_weight < 0;
    t.interference = std::abs(t.strong_weight) * at(W_out, m, w, j);
    t.reverse = std::abs(t.weak_weight) * at(W_out, m, a, j);
    t.weak_gain = std::abs(t.weak_weight) * at(W_out, m, w, j);
    t.strong_gain = std::abs(t.strong_weight) * at(W_out, m, a, j);
    if (t.weak_gain < asymmetric_path_gain) continue;                              // rule 1
    if (t.reverse > 0 && t.interference < asymmetric_ratio * t.reverse) continue;  // rule 2
    t.computes_both = t.strong_gain >= asymmetric_path_gain;                       // rule 3
    // Rule 4: of the other neurons that fire on the same sign of x_a, the one whose path a -> b is the most
    // negative.
    bool any = false;
    double best = 0;
    int best_q = -1;
    for (int q = 0; q < m; ++q) {
      const double wq = at(W_in, m, a, q);
      if (q == j || wq == 0 || (wq > 0) != (t.strong_weight > 0)) continue;
      const double cancelled = -std::abs(wq) * at(W_out, m, w, q);
      if (!any || cancelled > best) best = cancelled, best_q = q, any = true;
    }
    t.inhibition = any ? best / t.interference : 0.0;
    t.inhibitor = any && t.inhibition >= inhibition_share ? best_q : -1;
    t.residual = one_hot_output(W_in, W_out, b, m, a, t.strong_weight > 0 ? 1.0 : -1.0, w) / t.interference;
    out.push_back(t);
  }
  return out;
}

}  // namespace tms
