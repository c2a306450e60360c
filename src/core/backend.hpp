// The seam between a training step and its bookkeeping (ggml's backend interface is the model): a backend
// computes one step's loss and gradient for every member of a lock-step group (instances of one stream,
// trained step for step), each on the batch its data source draws for it. The trainer keeps everything
// else, the same for every backend and model: AdamW, loss curves, snapshots, the finite-loss and
// finite-weights checks, progress and cancellation, and which instances go in which group.
//
// A backend is made once per worker thread and keeps its scratch (sized once, nothing allocated per step).
// A GPU backend would take a whole group per call into one launch; a cluster shard runs the same trainer on
// its slice of the instance axis.
#pragma once

#include <cstdint>
#include <memory>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

// One member of a group at one step: what the backend reads, and where it writes.
struct step_member {
  const float* params = nullptr;      // [P] the member's parameters (model_tensors' layout)
  const float* importance = nullptr;  // [n]
  double density = 1;
  std::uint64_t stream_seed = 0;
  float* grad = nullptr;  // [P] zeroed by the backend, then the gradient
  double loss = 0;        // out: the loss of this step's batch
};

class step_backend {
 public:
  virtual ~step_backend() = default;
  // Step `step` of the data stream for members [0, count) in order (members of one stream share the step's
  // random words, generated for the first and reused by the others).
  virtual void step(std::int64_t step, step_member* members, std::size_t count) = 0;
  // Which path computes the steps, for tests and benchmarks: "tied_fast" or "reference".
  virtual const char* path() const = 0;
};

// This machine's backend for a run: the tied kernel where it computes the run (tied_fast_supports), else
// the reference maths of model.hpp on the rows of the same stream.
std::unique_ptr<step_backend> make_cpu_backend(const train_config& config);

}  // namespace tms
