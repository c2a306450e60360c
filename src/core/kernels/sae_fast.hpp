// The SAE step and forward (model_sae.hpp's float maths) built for each instruction-set level (isa.hpp):
// the same code, inlined whole into an x86-64-v4, an x86-64-v3 and a baseline clone, so the vector loops
// (the encoder's rows, the decoder's, the gradients' outer products) run 16, 8 or 4 floats wide. The
// reference is that maths as written (the finite-difference tests run it in double; the kernel tests compare
// every level with it on odd sizes). Levels differ in the last bits (fused multiply-adds), never runs.
#pragma once

#include "core/kernels/isa.hpp"
#include "core/model_sae.hpp"

namespace tms::kernels {

using sae_step_fn = sae_loss_terms (*)(const sae_layout&, float*, const float*, const float*, int,
                                       const sae_settings&, sae_workspace<float>&);
using sae_forward_fn = void (*)(const sae_layout&, const float*, const float*, int, const sae_settings&,
                                sae_workspace<float>&);

// sae_loss_and_grad<float> and sae_forward<float> for a level (isa::machine: this machine's best; the caller
// checks isa_supported for another).
sae_step_fn sae_step_kernel(isa which = isa::machine);
sae_forward_fn sae_forward_kernel(isa which = isa::machine);

}  // namespace tms::kernels
