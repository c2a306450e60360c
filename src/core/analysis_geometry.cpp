#include "core/analysis_geometry.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/errors.hpp"
#include "core/metrics.hpp"

namespace tms {
namespace {

// Eigenvalues of the symmetric A [d][d] (overwritten) by cyclic Jacobi rotations; d is at most m, small.
std::vector<double> symmetric_eigenvalues(std::vector<double>& A, int d) {
  auto at = [&](int i, int j) -> double& { return A[static_cast<std::size_t>(i) * d + j]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) (i == j ? total : off) += at(i, j) * at(i, j);
    if (off <= 1e-30 * (total + off)) break;
    for (int p = 0; p < d; ++p)
      for (int q = p + 1; q < d; ++q) {
        if (at(p, q) == 0) continue;
        // The rotation that zeroes A_pq: tan(2 theta) = 2 A_pq / (A_qq - A_pp), the smaller root for
        // stability.
        const double theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
        const double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < d; ++k) {  // columns p, q
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < d; ++k) {  // rows p, q
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> eig(d);
  for (int i = 0; i < d; ++i) eig[i] = at(i, i);
  return eig;
}

struct polytope_pattern {
  polytope_kind kind;
  int size;
  double dimensionality;
  int rank;
};

constexpr polytope_pattern patterns[] = {
    {polytope_kind::dedicated, 1, 1.0, 1},    {polytope_kind::digon, 2, 1.0 / 2, 1},
    {polytope_kind::triangle, 3, 2.0 / 3, 2}, {polytope_kind::tetrahedron, 4, 3.0 / 4, 3},
    {polytope_kind::pentagon, 5, 2.0 / 5, 2}, {polytope_kind::square_antiprism, 8, 3.0 / 8, 3},
};

// Union-find root with path halving.
int root(std::vector<int>& parent, int i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

}  // namespace

std::string_view polytope_name(polytope_kind kind) {
  switch (kind) {
    case polytope_kind::dedicated:
      return "dedicated";
    case polytope_kind::digon:
      return "digon";
    case polytope_kind::triangle:
      return "triangle";
    case polytope_kind::tetrahedron:
      return "tetrahedron";
    case polytope_kind::pentagon:
      return "pentagon";
    case polytope_kind::square_antiprism:
      return "square antiprism";
    case polytope_kind::other:
      return "other";
  }
  return "other";
}

int geometry_rank(const float* A, int rows, int m, double relative_tol) {
  if (rows < 1 || m < 1) return 0;
  // The non-zero eigenvalues of A A^T [rows][rows] and A^T A [m][m] are the same squared singular values.
  const int d = std::min(rows, m);
  std::vector<double> G(static_cast<std::size_t>(d) * d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      double s = 0;
      if (rows <= m)
        s = row_dot(A + static_cast<std::size_t>(i) * m, A + static_cast<std::size_t>(j) * m, m);
      else
        for (int r = 0; r < rows; ++r)
          s += static_cast<double>(A[static_cast<std::size_t>(r) * m + i]) *
               A[static_cast<std::size_t>(r) * m + j];
      G[static_cast<std::size_t>(i) * d + j] = s;
    }
  std::vector<double> sigma = symmetric_eigenvalues(G, d);
  for (double& v : sigma) v = std::sqrt(std::max(v, 0.0));
  const double largest = *std::max_element(sigma.begin(), sigma.end());
  if (largest == 0) return 0;
  return static_cast<int>(
      std::count_if(sigma.begin(), sigma.end(), [&](double v) { return v > relative_tol * largest; }));
}

feature_geometry geometry_tegum_factors(const float* W, int n, int m, const geometry_thresholds& t) {
  if (n < 1) throw usage_error("features: " + std::to_string(n) + " must be at least 1");
  if (m < 1) throw usage_error("hidden: " + std::to_string(m) + " must be at least 1");
  const instance_metrics mt = measure(W, n, m);
  auto row = [&](int i) { return W + static_cast<std::size_t>(i) * m; };

  feature_geometry out;
  std::vector<int> kept;
  for (int i = 0; i < n; ++i) (mt.norms[i] > t.represented ? kept : out.unrepresented).push_back(i);

  // The feature geometry graph (E8): an edge wherever the interference |cos| is above the tolerance.
  std::vector<int> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t a = 0; a < kept.size(); ++a)
    for (std::size_t c = a + 1; c < kept.size(); ++c) {
      const int i = kept[a], j = kept[c];
      const double cos = row_dot(row(i), row(j), m) / (mt.norms[i] * mt.norms[j]);
      if (std::abs(cos) > t.interference) parent[root(parent, j)] = root(parent, i);
    }
  // Components in order of their smallest feature: `kept` ascends, so the first member seen opens a factor.
  std::vector<int> factor_of(n, -1);
  for (int i : kept) {
    const int r = root(parent, i);
    if (factor_of[r] < 0) {
      factor_of[r] = static_cast<int>(out.factors.size());
      out.factors.emplace_back();
    }
    out.factors[factor_of[r]].features.push_back(i);
  }

  std::vector<float> rows;
  int rank_sum = 0;
  for (tegum_factor& f : out.factors) {
    const int k = static_cast<int>(f.features.size());
    rows.clear();
    double sum_d = 0;
    for (int i : f.features) {
      rows.insert(rows.end(), row(i), row(i) + m);
      sum_d += mt.dimensionality[i];
    }
    f.mean_dimensionality = sum_d / k;
    f.rank = geometry_rank(rows.data(), k, m, t.rank);
    rank_sum += f.rank;
    for (const polytope_pattern& p : patterns) {
      if (p.size != k || p.rank != f.rank) continue;
      const bool fits = std::all_of(f.features.begin(), f.features.end(), [&](int i) {
        return std::abs(mt.dimensionality[i] - p.dimensionality) <= t.dimensionality;
      });
      if (fits) f.kind = p.kind;
    }
    f.name = f.kind == polytope_kind::other ? "other " + std::to_string(k) + "-feature"
                                            : std::string(polytope_name(f.kind));
  }

  rows.clear();
  for (int i : kept) rows.insert(rows.end(), row(i), row(i) + m);
  out.rank = geometry_rank(rows.data(), static_cast<int>(kept.size()), m, t.rank);
  out.independent = rank_sum == out.rank;
  return out;
}

}  // namespace tms
