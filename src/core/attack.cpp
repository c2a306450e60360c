#include "core/attack.hpp"

#include <algorithm>
#include <cmath>

#include "core/metrics.hpp"
#include "core/rng.hpp"

namespace tms {

double gram_row_norm(const double* G, int n, int i) {
  const double* row = G + static_cast<std::size_t>(i) * n;
  double sq = 0;
  for (int j = 0; j < n; ++j) sq += row[j] * row[j];
  return std::sqrt(sq);
}

void attack_workspace::reserve(int n, int m) {
  G.assign(static_cast<std::size_t>(n) * n, 0.0);
  norm.assign(n, 0.0);
  x.assign(n, 0.0);
  h.assign(m, 0.0);
  push.assign(m, 0.0);
  z.assign(n, 0.0);
}

void attack_batch(sparse_batch<float>& attacked, const sparse_batch<float>& x, const float* W, const float* b,
                  const float* importance, int m, bool relu, double relative_norm, std::uint64_t seed,
                  std::int64_t step, attack_workspace& ws, attack_record* record) {
  const int n = x.n, B = x.B;
  attacked.B = B;
  attacked.n = n;
  // The Gram matrix of this step's weights, in double (each entry a fixed-order sum over the m dimensions).
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j)
      ws.G[static_cast<std::size_t>(i) * n + j] = ws.G[static_cast<std::size_t>(j) * n + i] =
          row_dot(W + i * m, W + j * m, m);
  for (int i = 0; i < n; ++i) ws.norm[i] = gram_row_norm(ws.G.data(), n, i);
  double norm_sum = 0;
  for (int s = 0; s < B; ++s) {
    double sq = 0;
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) sq += static_cast<double>(x.value[e]) * x.value[e];
    norm_sum += std::sqrt(sq);
  }
  const double lambda = relative_norm * norm_sum / B;
  if (record) {
    record->lambda = lambda;
    record->feature.assign(B, 0);
    record->sign.assign(B, 0);
  }
  const philox rng(seed);
  // The loss of one attacked output against the clean sample ws.x: the training loss's per-sample sum.
  auto loss_of = [&](double sign) {
    double total = 0;
    for (int j = 0; j < n; ++j) {
      double z = b[j];
      for (int k = 0; k < m; ++k) z += static_cast<double>(W[j * m + k]) * (ws.h[k] + sign * ws.push[k]);
      ws.z[j] = z;
      const double out = relu ? std::max(z, 0.0) : z;
      total += importance[j] * (ws.x[j] - out) * (ws.x[j] - out);
    }
    return total;
  };
  for (int s = 0; s < B; ++s) {
    std::fill(ws.x.begin(), ws.x.end(), 0.0);
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) ws.x[x.index[e]] = x.value[e];
    const std::uint32_t u = rng(static_cast<std::uint32_t>(step + 1), static_cast<std::uint32_t>(s), 0,
                                rng_tag::attack_feature)[0];
    const int i = static_cast<int>((static_cast<std::uint64_t>(u) * static_cast<std::uint64_t>(n)) >> 32);
    const double* Gi = ws.G.data() + static_cast<std::size_t>(i) * n;
    int sign = 0;
    if (ws.norm[i] > 0 && lambda > 0) {
      // The hidden vector of x + sign delta is h + sign push, in the [n][m] layout h_k = sum_j x_j W_jk and
      // push_k = sum_j delta_j W_jk with delta = lambda G_i / ||G_i||: two candidate outputs for n m each.
      for (int k = 0; k < m; ++k) ws.h[k] = ws.push[k] = 0;
      for (int e = x.offset[s]; e < x.offset[s + 1]; ++e)
        for (int k = 0; k < m; ++k) ws.h[k] += static_cast<double>(x.value[e]) * W[x.index[e] * m + k];
      const double scale = lambda / ws.norm[i];
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < m; ++k) ws.push[k] += scale * Gi[j] * W[j * m + k];
      sign = loss_of(-1.0) > loss_of(1.0) ? -1 : 1;
    }
    int* index = attacked.index.data() + static_cast<std::size_t>(s) * n;
    float* value = attacked.value.data() + static_cast<std::size_t>(s) * n;
    attacked.offset[s] = s * n;
    const double step_size = sign == 0 ? 0.0 : sign * lambda / ws.norm[i];
    for (int j = 0; j < n; ++j) {
      index[j] = j;
      value[j] = static_cast<float>(ws.x[j] + step_size * Gi[j]);
    }
    if (record) record->feature[s] = i, record->sign[s] = sign;
  }
  attacked.offset[B] = B * n;
}

}  // namespace tms
