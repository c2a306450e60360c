#include "core/kernels/sae_fast.hpp"

namespace tms::kernels {

namespace {

[[gnu::always_inline]] inline sae_loss_terms step_body(const sae_layout& L, float* grad, const float* params,
                                                       const float* h, int B, const sae_settings& s,
                                                       sae_workspace<float>& ws) {
  return sae_loss_and_grad<float>(L, grad, params, h, B, s, ws);
}

[[gnu::always_inline]] inline void forward_body(const sae_layout& L, const float* params, const float* h,
                                                int B, const sae_settings& s, sae_workspace<float>& ws) {
  sae_forward<float>(L, params, h, B, s, ws);
}

}  // namespace

sae_step_fn sae_step_kernel(isa which) {
  return clones<step_body>::pick(which);
}

sae_forward_fn sae_forward_kernel(isa which) {
  return clones<forward_body>::pick(which);
}

}  // namespace tms::kernels
