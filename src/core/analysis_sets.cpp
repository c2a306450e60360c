#include "core/analysis_sets.hpp"

#include <algorithm>
#include <cmath>

#include "core/errors.hpp"

namespace tms {

std::string_view pair_relation_name(pair_relation relation) {
  switch (relation) {
    case pair_relation::collapsed:
      return "collapsed";
    case pair_relation::side_by_side:
      return "side by side";
    case pair_relation::orthogonal:
      return "orthogonal";
    case pair_relation::opposed:
      return "opposed";
    case pair_relation::antipodal:
      return "antipodal";
    case pair_relation::unlearned:
      return "unlearned";
  }
  return "?";
}

namespace {

double dot(const float* a, const float* b, int m) {
  double s = 0;
  for (int k = 0; k < m; ++k) s += static_cast<double>(a[k]) * b[k];
  return s;
}

}  // namespace

pair_relation classify_pair(const float* W, int m, int i, int j, const set_thresholds& t) {
  const float *a = W + static_cast<std::size_t>(i) * m, *b = W + static_cast<std::size_t>(j) * m;
  const double na = std::sqrt(dot(a, a, m)), nb = std::sqrt(dot(b, b, m));
  if (!(na > t.represented) || !(nb > t.represented)) return pair_relation::unlearned;
  const double c = dot(a, b, m) / (na * nb);
  if (c > t.collapsed) return pair_relation::collapsed;
  if (c >= t.orthogonal) return pair_relation::side_by_side;
  if (c > -t.orthogonal) return pair_relation::orthogonal;
  if (c >= antipodal_pair_cos) return pair_relation::opposed;
  return pair_relation::antipodal;
}

set_geometry measure_sets(const float* W, int n, int m, int k, const set_thresholds& t) {
  if (k < 2 || n % k != 0)
    throw usage_error("set_size: " + std::to_string(k) + " for " + std::to_string(n) +
                      " features; allowed: a divisor of n that is at least 2");
  set_geometry g;
  g.sets = n / k, g.set_size = k;
  g.relation_count.assign(6, 0);
  g.pairs.resize(g.sets);
  double within_sum = 0, across_sum = 0;
  std::int64_t within_n = 0, across_n = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double o =
          std::fabs(dot(W + static_cast<std::size_t>(i) * m, W + static_cast<std::size_t>(j) * m, m));
      if (i / k == j / k) {
        g.within_max = std::max(g.within_max, o), within_sum += o, ++within_n;
        const pair_relation r = classify_pair(W, m, i, j, t);
        g.pairs[i / k].push_back(r);
        ++g.relation_count[static_cast<int>(r)];
      } else {
        g.across_max = std::max(g.across_max, o), across_sum += o, ++across_n;
      }
    }
  g.within_mean = within_n ? within_sum / within_n : 0;
  g.across_mean = across_n ? across_sum / across_n : 0;
  for (const auto& set : g.pairs)
    g.collapsed_sets +=
        std::all_of(set.begin(), set.end(), [](pair_relation r) { return r == pair_relation::collapsed; });
  bool any = false;
  for (int i = 0; i < n; ++i) {
    const float* w = W + static_cast<std::size_t>(i) * m;
    const double sq = dot(w, w, m);
    if (!(std::sqrt(sq) > t.represented)) continue;
    g.diagonal_min = any ? std::min(g.diagonal_min, sq) : sq;
    any = true;
  }
  return g;
}

}  // namespace tms
