#include "core/analysis_neurons.hpp"

#include <cmath>

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

}  // namespace tms
