// The training loop: K independent instances, each trained on a fresh batch every step with AdamW.
// No I/O: progress and cancellation go through a callback, failures are thrown.
//
// Work is split by instance: each instance is trained start to finish by whichever thread takes it, with its
// random numbers keyed by its own stream seed, so results never depend on the thread count. A thread trains
// the instances of one stream that draw Bernoulli batches in lock-step groups (step t of each, then t + 1),
// so each step's random words are generated once per group rather than once per instance.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

struct train_progress {
  double steps_done = 0;                  // training steps, the mean over instances (instance_steps_done / K)
  std::int64_t steps_total = 0;           // the config's steps
  std::int64_t instance_steps_done = 0;   // summed over instances
  std::int64_t instance_steps_total = 0;  // K x steps
};

// Called about every 100 ms from the calling thread; return false to cancel (train throws cancelled_error).
using progress_fn = std::function<bool(const train_progress&)>;

// Called from the calling thread when every instance has done `step` steps, with each instance's mean loss
// over the steps since the previous call [K]; return false to stop there (train returns what it has).
using step_fn = std::function<bool(std::int64_t step, const std::vector<double>& loss)>;

struct train_options {
  progress_fn progress;
  // Steps after which every instance's weights are copied (each in [0, steps], any order, duplicates
  // ignored; 0 = the initial weights), for learning-dynamics studies; none: no extra work in the loop.
  std::vector<std::int64_t> snapshot_steps;
  // Start from these weights instead of the init (K instances of the config's layout, e.g. an earlier run's,
  // to train longer); empty: init_params. AdamW's moments start from zero either way.
  model_weights init;
  // Batches of step t are the stream's step first_step + t: a run continued from another of `steps` steps
  // passes first_step = steps, so it never sees a batch again.
  std::int64_t first_step = 0;
  // With on_step: every instance pauses every `callback_every` steps (and after the last) for on_step.
  int callback_every = 0;
  step_fn on_step;
  // Refuse (usage_error) a run whose estimated memory exceeds this many bytes; 0: the machine's memory.
  std::int64_t memory_limit = 0;
};

struct train_result {
  int n = 0;
  int m = 0;
  std::vector<instance_spec> instances;    // [K]
  std::vector<std::uint64_t> stream_seed;  // [K] seed + restart: what an instance's numbers are keyed by
  model_weights weights;                   // K instances of every tensor of the model (model_tensors.hpp)
  std::vector<double> final_loss;          // [K] mean over the last 1% of steps (at least one)
  std::vector<std::int64_t> curve_step;    // [P] steps completed at the end of each curve window
  std::vector<double> curve_loss;          // [K][P] mean loss over each window
  // Snapshots (only when asked for): the weights after each requested step (0 = the initial weights).
  std::vector<std::int64_t> snapshot_step;  // [S] ascending
  model_weights snapshots;                  // S K instances: snapshot j of instance k is instance j K + k
  std::vector<double> snapshot_loss;        // [S][K] the loss of that step's batch (NaN for step 0)
  double init_std = 0;
  std::int64_t steps_done = 0;  // the config's steps, or fewer when on_step stopped the run
  std::int64_t first_step = 0;  // train_options::first_step
  bool initialised = false;     // started from train_options::init
  int threads = 0;              // threads that trained: the resolved count, at most one per instance
  double seconds = 0;
  std::int64_t K() const { return static_cast<std::int64_t>(instances.size()); }
};

// Number of loss-curve points (windows) recorded for a run: min(steps, loss_curve_points).
int curve_points(const train_config& config);

// The stream seed of an instance: seed + restart. Instances that differ only in density or importance share
// their random numbers (common random numbers), and a model trained alone with --seed s + r is bit-identical
// to restart r of a sweep with seed s when init is "independent".
std::uint64_t instance_stream_seed(const train_config& config, const instance_spec& instance);

// Validates the config and the options, checks the run fits in memory, then trains. Throws usage_error,
// run_error (a non-finite loss or weights) or cancelled_error. Stopped by on_step, the result holds the
// weights after steps_done steps, loss curves up to there and final_loss = the mean over the last
// callback window.
train_result train(const train_config& config, const train_options& options);
train_result train(const train_config& config, const progress_fn& progress = {},
                   const std::vector<std::int64_t>& snapshot_steps = {});

// The memory train() needs, in bytes (an estimate that errs high): weights and curves of every instance,
// snapshots, each worker's workspace, and the training states (every instance's with on_step).
std::int64_t train_memory_bytes(const train_config& config, std::size_t snapshot_count, bool every_state);

// The machine's physical memory in bytes (0 when unknown).
std::int64_t physical_memory_bytes();

// How train() hands out work to `workers` threads: groups of instances (indices into out.instances), largest
// first, each trained start to finish by one thread (several instances in lock-step). Instances that draw
// Bernoulli batches from the same stream seed go in lock-step groups (their random words are the same): as
// many groups as workers, dealt in snake order over descending density so the groups cost about the same,
// and capped so a group's state (3 P floats per member) stays within 256 MiB. They train alone instead when
// a seed has fewer than four such instances per worker (so few cannot be dealt into groups of equal cost: a
// larger model's densest instance costs several of its sparser ones), or when a step's B n words exceed
// 2 MiB (then converting shared words costs as much as generating them). Binomial instances go alone, last.
// Public for benchmarks, which profile the step as training runs it.
std::vector<std::vector<std::int64_t>> training_groups(const train_config& config, const train_result& out,
                                                       int workers);

// About `count` distinct steps spaced evenly in log(step) over [1, steps], always including 1 and `steps`.
std::vector<std::int64_t> log_spaced_steps(std::int64_t steps, int count);

}  // namespace tms
