// Sparse autoencoders trained on a trained toy run's hidden activations, many at once, and scored against
// its known features (analysis_sae.hpp).
//
// The data: every step, a fresh batch x of the toy run's own distribution (its source, density, relative
// densities, values) goes through the trained, frozen toy model; its hidden activations h (model_forward's
// h: W x for linear and relu, ReLU(W x + b_hidden) for relu-hidden, ReLU(W_in x + b_hidden) for abs) are
// the SAE's inputs. The ground truth is each feature's row of the table's embedding (W_i, or W_in_i) and
// which features of x are non-zero.
//
// Work is split by SAE: each is trained and then scored whole by one thread, its numbers keyed by its own
// streams, so results do not depend on the thread count. Streams: the batches of SAEs that share a toy
// instance and a restart are the same (common random numbers across widths and coefficients), keyed by
// (seed, restart) and far from every toy training and evaluation stream; an SAE's init is keyed by (seed,
// width, restart), so SAEs differing only in their coefficient start alike.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/analysis_sae.hpp"
#include "core/config.hpp"
#include "core/model_sae.hpp"
#include "core/model_tensors.hpp"
#include "core/sae_config.hpp"

namespace tms {

struct sae_result {
  sae_config config;
  int m = 0;                               // the SAEs' input size
  std::vector<sae_spec> specs;             // [S] the grid
  std::vector<std::vector<float>> params;  // [S][P of its width] (sae_tensors' layout)
  std::vector<double> final_loss;          // [S] the mean training loss over the last 1% of steps
  std::vector<std::int64_t> curve_step;    // [C] steps completed at the end of each window
  std::vector<double> curve_loss;          // [S][C] the mean training loss over each window
  std::vector<double> threshold;           // [S] batch_topk's inference threshold; 0 for the others
  std::vector<std::int64_t> resampled;     // [S] latents resampled during training
  std::vector<sae_metrics> metrics;        // [S] on eval_samples fresh samples
  int threads = 0;
  double seconds = 0;
  std::int64_t S() const { return static_cast<std::int64_t>(specs.size()); }
};

// The stream seeds (sae_trainer.hpp's header says what each keys).
std::uint64_t sae_data_seed(std::uint64_t seed, int restart);
std::uint64_t sae_evaluation_seed(std::uint64_t seed);
std::uint64_t sae_init_seed(std::uint64_t seed, int width, int restart);

// The inference settings of SAE s of a result (batch_topk's threshold): what the metrics and
// sae_encode use.
sae_settings sae_inference_settings(const sae_result& result, std::int64_t s);

// Called about every 100 ms from the calling thread with SAE-steps done and their total; false cancels
// (train_saes throws cancelled_error).
using sae_progress_fn = std::function<bool(std::int64_t done, std::int64_t total)>;

// Trains the config's grid of SAEs on the toy run (its config and weights, K instances of its layout) and
// scores each. Throws usage_error (a bad config, a toy model without hidden activations to read), run_error
// (a non-finite loss) or cancelled_error.
sae_result train_saes(const train_config& toy, const model_weights& toy_weights, const sae_config& config,
                      const sae_progress_fn& progress = {});
// The same for any instances of the toy config (each with its density, e.g. a selection of a run's).
sae_result train_saes(const train_config& toy, const std::vector<instance_spec>& instances,
                      const model_weights& toy_weights, const sae_config& config,
                      const sae_progress_fn& progress = {});

// The SAE s's latents z [samples][d] and reconstructions [samples][m] on `samples` fresh activations of its
// toy instance (the evaluation stream of `seed`), with the inputs' activations h [samples][m] and x
// [samples][n]: what a user plots. Throws usage_error.
struct sae_activations {
  std::vector<float> x, h, z, h_hat;
};
sae_activations sae_encode(const train_config& toy, const std::vector<instance_spec>& instances,
                           const model_weights& toy_weights, const sae_result& result, std::int64_t s,
                           std::int64_t samples, std::uint64_t seed);

}  // namespace tms
