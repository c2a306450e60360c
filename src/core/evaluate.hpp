// A trained run's loss on fresh data: what a notebook computes by sampling a batch and running the model,
// done by the engine with the training loss's own definition and sampler.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

// The stream seed of evaluation batches for a user's `seed`: far from every training stream (seed + restart
// for small seeds and restarts), so evaluate(seed = s) never replays a training batch of a run with seed s.
std::uint64_t evaluation_seed(std::uint64_t seed);

// Each instance's loss on fresh batches of the run's own distribution (its density, importance and relative
// densities) by the training loss's definition (model_loss): the mean over `samples` samples and the n
// features of I_i (x_i - x'_i)^2, plus the config's L1 penalty on the hidden activations. Batches have the
// config's B samples (the last one fewer) and come from the stream evaluation_seed(seed), the same for every
// instance (common random numbers, as in training). `weights`: K instances of the config's layout in its
// instance order. Bit-identical for any thread count. Throws usage_error.
std::vector<double> evaluate_loss(const train_config& config, const model_weights& weights,
                                  std::int64_t samples, std::uint64_t seed);
// The same for any instances (each with its density and importance [n], e.g. a selection of a run's), under
// the config's model, sizes, batch, relative densities, values and L1 penalty.
std::vector<double> evaluate_loss(const train_config& config, const std::vector<instance_spec>& instances,
                                  const model_weights& weights, std::int64_t samples, std::uint64_t seed);

// The inputs evaluate_loss scores, as a dense [K][samples][n] array: each instance's batches of the stream
// evaluation_seed(seed) from the config's data source (its density, relative densities, sets and values),
// the batch of B samples j covering samples [j B, (j + 1) B). Throws usage_error for more than 2^31 values.
std::vector<float> sample_inputs(const train_config& config, std::int64_t samples, std::uint64_t seed);

}  // namespace tms
