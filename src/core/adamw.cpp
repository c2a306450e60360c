#include "core/adamw.hpp"

#include <cmath>

#include "core/kernels/isa.hpp"

// The update is elementwise, so wider vectors change nothing but speed: this file is compiled without
// floating-point contraction (every clone rounds each multiply and add as the baseline does, bit for bit) and
// without errno on sqrt (v >= 0), which is what lets the loop vectorize at all.
// The loop is an always-inline body compiled for each instruction-set level (kernels::clones); adamw_step
// takes the machine's best, chosen once.

namespace tms {
namespace {

inline __attribute__((always_inline)) void adamw_loop(float* p, float* m, float* v, const float* g,
                                                      std::size_t P, long t, double lr,
                                                      const adamw_settings& s) {
  const auto decay = static_cast<float>(1.0 - lr * s.weight_decay);
  const auto w1 = static_cast<float>(1.0 - s.beta1);
  const auto beta2 = static_cast<float>(s.beta2);
  const auto w2 = static_cast<float>(1.0 - s.beta2);
  const double bias_correction1 = 1.0 - std::pow(s.beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(s.beta2, static_cast<double>(t));
  const auto step_size = static_cast<float>(lr / bias_correction1);
  const auto bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const auto eps = static_cast<float>(s.eps);
  for (std::size_t j = 0; j < P; ++j) {
    p[j] *= decay;
    m[j] += w1 * (g[j] - m[j]);
    v[j] = beta2 * v[j] + w2 * g[j] * g[j];
    const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
    p[j] -= step_size * (m[j] / denom);
  }
}

using adamw_clones = kernels::clones<adamw_loop>;

}  // namespace

void adamw_step(float* p, float* m, float* v, const float* g, std::size_t P, long t, double lr,
                const adamw_settings& s) {
  static const auto loop = adamw_clones::pick(kernels::isa::machine);  // chosen once, never per call
  loop(p, m, v, g, P, t, lr, s);
}

bool adamw_step_isa(kernels::isa which, float* p, float* m, float* v, const float* g, std::size_t P, long t,
                    double lr, const adamw_settings& s) {
  if (!kernels::isa_supported(which)) return false;
  adamw_clones::pick(which)(p, m, v, g, P, t, lr, s);
  return true;
}

double schedule_factor(lr_schedule schedule, long step, long steps) {
  switch (schedule) {
    case lr_schedule::constant:
      return 1.0;
    case lr_schedule::linear:
      return 1.0 - static_cast<double>(step) / static_cast<double>(steps);
    case lr_schedule::cosine:
      if (steps <= 1) return 1.0;
      return std::cos(0.5 * M_PI * static_cast<double>(step) / static_cast<double>(steps - 1));
  }
  return 1.0;
}

}  // namespace tms
