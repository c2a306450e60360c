// Sparse autoencoders trained on a toy model's hidden activations: the families, every setting of an SAE
// run with its default and validate(), the grid of SAEs one run trains, and the table of each family's
// tensors. Letters: m the SAE's input size (the toy model's hidden size), d its latents (the width), B batch.
//
// The recipes and where their defaults come from:
//  * relu (Anthropic, "Towards Monosemanticity", 2023; ARENA's ToySAE): z = ReLU(W_enc^T (h - b_dec) +
//  b_enc),
//    loss = MSE + coefficient x sum_l z_l; ARENA's toy defaults: Adam lr 1e-3, coefficient 0.2, resampling
//    dead latents every 2,500 steps over a 500-step window (its two variants, `resample`).
//  * topk (Gao et al., "Scaling and evaluating sparse autoencoders", 2024): the k largest pre-activations of
//    each sample, ReLU'd; the AuxK loss (coefficient 1/32) reconstructs the residual from the k_aux largest
//    dead latents (no firing for dead_window steps); k_aux = m / 2 rounded up (Gao's d_model / 2).
//  * batch_topk (Bussmann et al., "BatchTopK sparse autoencoders", 2024): the B k largest over the whole
//    batch; at inference a threshold, the running mean (decay 0.99 per step) of each batch's smallest kept
//    value; AuxK as topk.
//  * jumprelu (Rajamanoharan et al., "Jumping ahead", 2024): z = pre 1[pre > theta], theta = exp(log_theta)
//    per latent, loss = MSE + coefficient x L0, straight-through threshold gradients with a rectangle kernel
//    of width `bandwidth`; ARENA's toy values theta_0 = 0.1 and bandwidth 0.01 (the paper's 0.001 are for
//    language-model activations).
//  * gated (Rajamanoharan et al., "Improving dictionary learning with gated SAEs", 2024): a gate
//    1[pi_gate > 0] times a magnitude ReLU(pi_mag), W_mag = W_gate exp(r_mag); loss = MSE + coefficient x
//    sum_l ReLU(pi_gate_l) + the auxiliary reconstruction of ReLU(pi_gate) through the frozen decoder.
// Every family: MSE = the mean over the batch and the m inputs of (h_hat - h)^2 (ARENA's), decoder rows held
// at unit norm (the gradient's component along each row removed before the step, the rows renormalised
// after), W_dec rows initialised as random unit vectors and W_enc as W_dec^T (Gao et al.; Anthropic's April
// 2024 update), biases 0, Adam without weight decay (beta 0.9, 0.999).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/model_tensors.hpp"

namespace tms {

enum class sae_kind { relu, topk, batch_topk, jumprelu, gated };
// Dead-latent resampling (ARENA's two variants): none; simple: a random unit direction into the decoder
// row and resample_scale times it into the encoder column, b_enc 0; advanced (Towards Monosemanticity): the
// direction of an input drawn with probability proportional to its squared reconstruction loss, the
// encoder column scaled to resample_scale times the mean norm of the live ones. Adam's moments of a
// resampled latent restart from 0.
enum class sae_resample { none, simple, advanced };

struct sae_config {
  sae_kind kind = sae_kind::relu;
  // The grid: toy instances x widths x coefficients x restarts (restarts innermost, toy instances
  // outermost). `instances` empty: every instance of the toy run.
  std::vector<std::int64_t> instances;
  std::vector<int> widths = {40};  // d
  // The sparsity setting of each SAE: relu and gated the L1 coefficient, jumprelu the L0 coefficient,
  // topk k (a whole number of latents per sample, at most the width), batch_topk k (the mean latents per
  // sample: floor(k B) are kept per batch; k B >= 1).
  std::vector<double> coefficients = {0.2};
  int restarts = 1;

  int steps = 10000;
  int batch = 1024;  // B
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  int loss_curve_points = 100;

  sae_resample resample = sae_resample::none;
  int resample_every = 2500;  // steps between resamplings (none after the last 20% of steps' start)
  int dead_window = 500;      // a latent is dead when it fired on no sample for this many steps
  double resample_scale = 0.5;
  // AuxK (topk, batch_topk): k_aux (0: m / 2 rounded up) and the loss's coefficient (0: off).
  int aux_k = 0;
  double aux_coefficient = 1.0 / 32;
  // JumpReLU: the initial threshold and the straight-through kernel's width.
  double initial_threshold = 0.1;
  double bandwidth = 0.01;
  // BatchTopK: the inference threshold's running-mean decay per step.
  double threshold_decay = 0.99;

  // Samples of fresh activations (a stream no training batch uses) the metrics are measured on.
  std::int64_t eval_samples = 16384;
  std::uint64_t seed = 0;
  int threads = 0;  // 0: all hardware threads. Never changes a result.

  // Throws usage_error naming the first field out of range and what is allowed; `toy_instances` is the toy
  // run's K.
  void validate(std::int64_t toy_instances) const;
  int resolved_aux_k(int m) const { return aux_k > 0 ? aux_k : (m + 1) / 2; }
};

// One SAE of the grid.
struct sae_spec {
  std::int64_t toy_instance = 0;  // index into the toy run's instances
  int width = 0;                  // d
  double coefficient = 0;         // the sparsity setting (see sae_config::coefficients)
  int restart = 0;
  int width_index = 0, coefficient_index = 0;
};
// The grid in its order (toy instance, width, coefficient, restart); a validated config.
std::vector<sae_spec> sae_grid(const sae_config& config, std::int64_t toy_instances);

// The table of an SAE family's tensors, one flat float vector per SAE in table order (init: sae_init).
//   W_enc [m][d] (column l: latent l's encoder), b_enc [d], W_dec [d][m] (row l: latent l's decoder
//   direction, the dictionary element compared with the true features), b_dec [m]; jumprelu adds
//   log_threshold [d]; gated has W_gate [m][d] in W_enc's place, b_gate [d], r_mag [d], b_mag [d].
struct sae_layout {
  sae_kind kind = sae_kind::relu;
  int m = 0, d = 0;
  std::vector<tensor_spec> tensors;
  std::size_t params = 0;
  const tensor_spec* find(std::string_view name) const;
  const tensor_spec& at(std::string_view name) const;  // run_error for a name not in the table
  std::string encoder() const { return kind == sae_kind::gated ? "W_gate" : "W_enc"; }
};
sae_layout sae_tensors(sae_kind kind, int m, int d);

// The initial parameters of one SAE from the stream `stream_seed` (rng_tag::sae_init).
void sae_init(float* params, const sae_layout& layout, std::uint64_t stream_seed, double initial_threshold);

std::string_view sae_kind_name(sae_kind kind);
sae_kind parse_sae_kind(std::string_view text, std::string_view field = "kind");
std::string_view sae_resample_name(sae_resample r);
sae_resample parse_sae_resample(std::string_view text, std::string_view field = "resample");
// Whether the family's coefficient is k (topk, batch_topk).
inline bool sae_coefficient_is_k(sae_kind kind) {
  return kind == sae_kind::topk || kind == sae_kind::batch_topk;
}

}  // namespace tms
