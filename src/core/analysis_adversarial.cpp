#include "core/analysis_adversarial.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/attack.hpp"
#include "core/batch_source.hpp"
#include "core/errors.hpp"
#include "core/evaluate.hpp"
#include "core/instance_workers.hpp"

namespace tms {

namespace {

// One model's losses under every attack, accumulated over the samples in a fixed order.
struct attack_losses {
  int n = 0;
  std::vector<double> G;     // [n][n] the Gram matrix
  std::vector<double> push;  // [2 n][n]: the change of the pre-activation W^T W delta per unit lambda
  std::vector<char> has;     // [n] G_i != 0 (an attack direction exists)
  std::vector<std::int64_t> worst_count;  // [2 n] samples whose worst attack this is
  double attacked = 0;                    // summed per-sample worst losses
  double clean = 0;
};

// The tied model with rows W [n][m] (double), bias b; `relu` or linear.
void prepare(attack_losses& a, const std::vector<double>& W, int n, int m) {
  a.n = n;
  a.G.assign(static_cast<std::size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int k = 0; k < m; ++k) s += W[i * m + k] * W[j * m + k];
      a.G[i * n + j] = s;
    }
  // delta_i = G_i / ||G_i||; the pre-activation moves by G delta_i (G symmetric).
  a.push.assign(static_cast<std::size_t>(2) * n * n, 0.0);
  a.has.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    const double norm = gram_row_norm(a.G.data(), n, i);
    if (!(norm > 0)) continue;
    a.has[i] = 1;
    for (int r = 0; r < n; ++r) {
      double s = 0;
      for (int j = 0; j < n; ++j) s += a.G[r * n + j] * a.G[i * n + j];
      a.push[(2 * i) * n + r] = s / norm;
      a.push[(2 * i + 1) * n + r] = -s / norm;
    }
  }
  a.worst_count.assign(2 * n, 0);
  a.attacked = 0;
  a.clean = 0;
}

// Adds one sample x [n] (dense) to the sums: clean, and every attack at norm lambda.
void add_sample(attack_losses& a, const std::vector<double>& z, const double* x, const float* importance,
                bool relu, double lambda, std::vector<double>& scratch) {
  const int n = a.n;
  auto loss = [&](const double* pre) {
    double s = 0;
    for (int j = 0; j < n; ++j) {
      const double out = relu ? std::max(pre[j], 0.0) : pre[j];
      s += importance[j] * (x[j] - out) * (x[j] - out);
    }
    return s;
  };
  const double clean = loss(z.data());
  a.clean += clean;
  double worst = clean;  // no direction (W = 0): the attack changes nothing
  int which = -1;
  for (int d = 0; d < 2 * n; ++d) {
    if (!a.has[d / 2]) continue;
    const double* p = a.push.data() + static_cast<std::size_t>(d) * n;
    for (int j = 0; j < n; ++j) scratch[j] = z[j] + lambda * p[j];
    const double l = loss(scratch.data());
    if (which < 0 || l > worst) worst = l, which = d;
  }
  a.attacked += worst;
  if (which >= 0) ++a.worst_count[which];
}

}  // namespace

std::vector<adversarial_result> adversarial_vulnerability(const train_config& config,
                                                          const std::vector<instance_spec>& instances,
                                                          const model_weights& weights, std::int64_t samples,
                                                          std::uint64_t seed, double relative_norm) {
  config.validate();
  if (config.model != model_kind::linear && config.model != model_kind::relu_output)
    throw usage_error(
        "model: the adversarial attack is defined for x' = act(W^T W x + b); allowed: linear, relu "
        "(not '" +
        std::string(model_name(config.model)) + "')");
  if (samples < 1 || samples > (std::int64_t{1} << 30))
    throw usage_error("samples: " + std::to_string(samples) + " is out of range; allowed: 1 to 2^30");
  if (!(relative_norm > 0) || !std::isfinite(relative_norm))
    throw usage_error("relative_norm: must be a positive number (the paper's 0.1)");
  const int n = config.features, m = config.hidden, B = config.batch;
  const auto K = static_cast<std::int64_t>(instances.size());
  const model_layout layout = model_tensors(config);
  weights.require_fits(layout, K, "weights");
  const bool relu = config.model == model_kind::relu_output;
  const std::uint64_t stream = evaluation_seed(seed);
  const batch_source source(config);
  std::vector<adversarial_result> out(K);
  run_instance_workers(K, config.threads, [&](std::atomic<std::int64_t>& next) {
    sparse_batch<float> rows;
    rows.reserve(B, n);
    source.prepare(rows);
    std::vector<double> W(static_cast<std::size_t>(n) * m), W0(W.size(), 0.0), x(n), z(n), z0(n), scratch(n);
    attack_losses model, reference;
    for (std::int64_t k; (k = next.fetch_add(1)) < K;) {
      const float* Wk = weights.of(layout.embedding, k);
      const float* bk = weights.of("b", k);
      for (std::size_t e = 0; e < W.size(); ++e) W[e] = Wk[e];
      const float* I = instances[k].importance.data();
      // The reference: the m most important features (ties: the lower index) on orthonormal directions.
      std::vector<int> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return I[a] > I[b]; });
      std::fill(W0.begin(), W0.end(), 0.0);
      for (int r = 0; r < std::min(n, m); ++r) W0[order[r] * m + r] = 1.0;
      prepare(model, W, n, m);
      prepare(reference, W0, n, m);
      // Two passes over the same samples: the mean input norm first (it sets lambda), then the losses.
      double norm_sum = 0;
      for (std::int64_t j = 0; j * B < samples; ++j) {
        source.fill(rows, stream, j, instances[k].density);
        const std::int64_t used = std::min<std::int64_t>(B, samples - j * B);
        for (std::int64_t s = 0; s < used; ++s) {
          double sq = 0;
          for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e)
            sq += double(rows.value[e]) * rows.value[e];
          norm_sum += std::sqrt(sq);
        }
      }
      adversarial_result& r = out[k];
      r.input_norm = norm_sum / static_cast<double>(samples);
      r.attack_norm = relative_norm * r.input_norm;
      for (std::int64_t j = 0; j * B < samples; ++j) {
        source.fill(rows, stream, j, instances[k].density);
        const std::int64_t used = std::min<std::int64_t>(B, samples - j * B);
        for (std::int64_t s = 0; s < used; ++s) {
          std::fill(x.begin(), x.end(), 0.0);
          for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e) x[rows.index[e]] = rows.value[e];
          for (int i = 0; i < n; ++i) {  // z = G x + b, z0 = G0 x
            double a = bk[i], a0 = 0;
            for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e) {
              a += model.G[i * n + rows.index[e]] * rows.value[e];
              a0 += reference.G[i * n + rows.index[e]] * rows.value[e];
            }
            z[i] = a, z0[i] = a0;
          }
          add_sample(model, z, x.data(), I, relu, r.attack_norm, scratch);
          add_sample(reference, z0, x.data(), I, relu, r.attack_norm, scratch);
        }
      }
      const double per =
          static_cast<double>(samples) * n;  // the training loss's mean over samples and features
      r.clean = model.clean / per;
      r.attacked = model.attacked / per;
      for (int d = 0; d < 2 * n; ++d)
        if (model.worst_count[d] > 0 &&
            (r.feature < 0 || model.worst_count[d] > model.worst_count[2 * r.feature + (r.sign < 0)]))
          r.feature = d / 2, r.sign = d % 2 ? -1 : 1;
      r.reference_clean = reference.clean / per;
      r.reference_attacked = reference.attacked / per;
      const double base = r.reference_attacked - r.reference_clean;
      r.vulnerability = base > 0 ? (r.attacked - r.clean) / base : std::numeric_limits<double>::quiet_NaN();
      double fro = 0;
      for (double w : W) fro += w * w;
      r.features_per_dimension = fro / m;
    }
  });
  return out;
}

}  // namespace tms
