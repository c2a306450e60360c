// AdamW with PyTorch's semantics (torch.optim.AdamW, single-tensor path), and the notebook's learning-rate
// schedules. Scalars are formed in double, as Python floats are, and applied in float, as PyTorch does for
// float32 tensors.
#pragma once

#include <cstddef>

#include "core/config.hpp"
#include "core/kernels/isa.hpp"

namespace tms {

struct adamw_settings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// One step t (1-based) over P parameters with learning rate lr:
//   p <- p (1 - lr wd)                        decoupled weight decay (Loshchilov & Hutter)
//   m <- m + (1 - beta1)(g - m)               first moment (torch uses lerp)
//   v <- beta2 v + (1 - beta2) g^2            second moment
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
void adamw_step(float* p, float* m, float* v, const float* g, std::size_t P, long t, double lr,
                const adamw_settings& s);
// The same through the build for one instruction-set level (kernels/isa.hpp), for tests: every build gives
// the same bits (no contraction). Returns false, doing nothing, when this machine cannot run it.
bool adamw_step_isa(kernels::isa which, float* p, float* m, float* v, const float* g, std::size_t P, long t,
                    double lr, const adamw_settings& s);

// The factor on lr at 0-based `step` of `steps` (the companion notebook's constant_lr, linear_lr,
// cosine_decay_lr): 1; 1 - step/steps; cos(pi/2 step/(steps - 1)).
double schedule_factor(lr_schedule schedule, long step, long steps);

}  // namespace tms
