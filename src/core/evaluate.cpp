#include "core/evaluate.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "core/batch_source.hpp"
#include "core/errors.hpp"
#include "core/instance_workers.hpp"
#include "core/model.hpp"

namespace tms {

std::uint64_t evaluation_seed(std::uint64_t seed) {
  return seed ^ 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio: far from seed + restart for every small seed
}

std::vector<double> evaluate_loss(const train_config& config, const model_weights& weights,
                                  std::int64_t samples, std::uint64_t seed) {
  config.validate();
  return evaluate_loss(config, config_instances(config), weights, samples, seed);
}

std::vector<double> evaluate_loss(const train_config& config, const std::vector<instance_spec>& instances,
                                  const model_weights& weights, std::int64_t samples, std::uint64_t seed) {
  config.validate();
  const int n = config.features, m = config.hidden, B = config.batch;
  for (const auto& inst : instances)
    if (static_cast<int>(inst.importance.size()) != n || !(inst.density > 0 && inst.density <= 1))
      throw usage_error("instances: an instance has " + std::to_string(inst.importance.size()) +
                        " importances or density outside (0, 1]; allowed: n = " + std::to_string(n) +
                        " importances and a density in (0, 1]");
  const auto K = static_cast<std::int64_t>(instances.size());
  const model_layout layout = model_tensors(config);
  weights.require_fits(layout, K, "weights");
  if (samples < 1 || samples > (std::int64_t{1} << 40))
    throw usage_error("samples: " + std::to_string(samples) +
                      " is out of range; allowed: an integer in [1, 2^40]");
  const std::int64_t batches = (samples + B - 1) / B;
  if (batches > (std::int64_t{1} << 32) - 2)
    throw usage_error("samples: " + std::to_string(samples) + " needs too many batches of " +
                      std::to_string(B));
  const std::uint64_t stream = evaluation_seed(seed);
  const std::size_t P = layout.params;

  const batch_source source(config);  // the training data's distribution, on the evaluation stream
  std::vector<double> loss(K, 0.0);
  // One instance per task, its batches summed in order: the result does not depend on the thread count.
  run_instance_workers(K, config.threads, [&](std::atomic<std::int64_t>& next) {
    model_workspace<float> ws;
    ws.reserve(B, n, m);
    source.prepare(ws.x);
    std::vector<float> params(P);
    for (std::int64_t k; (k = next.fetch_add(1)) < K;) {
      weights.gather(k, params.data());
      double total = 0;
      for (std::int64_t j = 0; j < batches; ++j) {
        ws.x.B = B;
        source.fill(ws.x, stream, j, instances[k].density);
        const int used = static_cast<int>(std::min<std::int64_t>(B, samples - j * B));
        ws.x.B = used;  // the last batch keeps its first `used` samples
        total += model_loss(layout, params.data(), instances[k].importance.data(), ws, config.l1) * used;
      }
      loss[k] = total / static_cast<double>(samples);
    }
  });
  return loss;
}

std::vector<float> sample_inputs(const train_config& config, std::int64_t samples, std::uint64_t seed) {
  config.validate();
  const int n = config.features, B = config.batch;
  const std::vector<instance_spec> instances = config_instances(config);
  const auto K = static_cast<std::int64_t>(instances.size());
  if (samples < 1 || samples > (std::int64_t{1} << 31) / n / K)
    throw usage_error("samples: " + std::to_string(samples) + " for " + std::to_string(K) + " instances of " +
                      std::to_string(n) + " features is out of range; allowed: 1 to 2^31 values in all (" +
                      std::to_string((std::int64_t{1} << 31) / n / K) + " samples here)");
  const std::uint64_t stream = evaluation_seed(seed);
  const batch_source source(config);
  sparse_batch<float> rows;
  rows.reserve(B, n);
  source.prepare(rows);
  std::vector<float> out(static_cast<std::size_t>(K) * samples * n, 0.0f);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t j = 0; j * B < samples; ++j) {
      source.fill(rows, stream, j, instances[k].density);
      const std::int64_t used = std::min<std::int64_t>(B, samples - j * B);
      for (std::int64_t s = 0; s < used; ++s) {
        float* x = out.data() + (static_cast<std::size_t>(k) * samples + j * B + s) * n;
        for (int e = rows.offset[s]; e < rows.offset[s + 1]; ++e) x[rows.index[e]] = rows.value[e];
      }
    }
  return out;
}

}  // namespace tms
