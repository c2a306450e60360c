// train_config: every setting of a training run, its default, and validate(). The CLI flags, the TOML loader
// and the Python binding all fill this one struct, so defaults live here and nowhere else.
//
// Letters follow the paper: n features, m hidden dimensions, K instances, B batch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tms {

// linear: x' = W^T W x + b;  relu_output: x' = ReLU(W^T W x + b);  relu_hidden: x' = ReLU(W^T ReLU(W x) + b)
// (paper E18, the privileged basis);  abs: y' = ReLU(W_out ReLU(W_in x) + b), trained to output |x| (E19-E21,
// computation in superposition). Their tensors are declared in model_tensors.hpp. Every switch over the kinds
// is exhaustive: a new kind fails to compile where it is not handled, never runs as another.
enum class model_kind { linear, relu_output, relu_hidden, abs };
enum class lr_schedule { constant, linear, cosine };
// The value of an active feature: uniform on [0, 1) (the paper's default) or signed, uniform on [-1, 1)
// (the absolute-value experiments, E19-E21). data_sparse.hpp defines both from the same stream.
enum class value_distribution { uniform, signed_uniform };
// How features co-occur (paper E11-E13, E15; data_sets.hpp draws them): independently, or in sets of
// set_size consecutive features. A correlated set is all zero or has every feature non-zero (its own value
// each); an anticorrelated set is all zero or has exactly one non-zero feature, chosen uniformly.
enum class data_kind { independent, correlated, anticorrelated };
// What an instance's density 1 - S is the probability of, for sets: that a set is active (the paper's
// convention: an anticorrelated feature then fires with probability (1 - S) / set_size), or that each feature
// is (ARENA's: the set is active with probability set_size (1 - S), so each feature's marginal is 1 - S). The
// two agree for correlated sets.
enum class set_density { set, feature };

// How W is initialised (all Xavier-normal, differing in the fan used for the standard deviation):
//   reference:   PyTorch's xavier_normal_ on the stacked [K, n, m] tensor, std = sqrt(2 / (m (n + K))),
//                as the companion notebook does; the scale depends on K.
//   arena:       xavier_normal_ on ARENA's stacked [K, m, n] layout, std = sqrt(2 / (n (m + K))).
//   independent: the reference formula with K = 1, std = sqrt(2 / (m (n + 1))): a model trained alone and the
//                same model inside a sweep of any size start from identical weights.
enum class init_scheme { reference, arena, independent };

// One importance vector: I_i = base^i (i from 0), or the explicit `values` when those are given.
struct importance_spec {
  double base = 0.7;
  std::vector<double> values;  // [n] when explicit, empty when I_i = base^i
};

struct train_config {
  std::string preset = "reference";  // which preset the defaults came from; recorded in metrics.json
  model_kind model = model_kind::relu_output;
  int features = 20;  // n
  int hidden = 5;     // m

  // The instance axis: K = |density| x |importance| x restarts, restarts innermost, density outermost.
  std::vector<double> density = {1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001};  // 1 - S per instance
  std::vector<importance_spec> importance = {importance_spec{}};
  int restarts = 1;
  // Per-feature density multipliers [n] (paper E10, non-uniform superposition): feature i of an instance with
  // density p has density min(1, p relative_density[i]). Empty: every feature has the instance's density.
  std::vector<double> relative_density;

  int steps = 10000;
  int batch = 1024;  // B
  // The loss curve: the mean loss over each of this many windows of steps (fewer when steps is smaller);
  // 0: none (a sweep of a million instances keeps only each instance's final loss).
  int loss_curve_points = 200;

  // AdamW with PyTorch's semantics; weight_decay = 0 is exactly Adam.
  double lr = 1e-3;
  lr_schedule schedule = lr_schedule::constant;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // decoupled, on W and b (PyTorch's AdamW default)

  // The data: independent features, or sets of set_size consecutive features (n a multiple of it).
  data_kind data = data_kind::independent;
  int set_size = 2;
  set_density density_of = set_density::set;

  // L1 penalty on the hidden activations (paper E22): the loss gains l1 x the mean over the batch of
  // sum_j |h_j|. 0: none (and the fast kernels apply).
  double l1 = 0;
  // The input values; the front doors set default_values(model) unless the user names one.
  value_distribution values = value_distribution::uniform;
  // Samples for E16's adversarial measurement of each instance in instances.npz (analysis_adversarial.hpp, on
  // the evaluation stream of `seed`); 0: not measured. Linear and relu models only.
  std::int64_t adversarial_samples = 0;
  // Adversarial training (paper E17, attack.hpp): each training sample is attacked on a random feature at
  // this multiple of the batch's mean input norm before the step (the loss compares the output of the
  // attacked input with the clean one). 0: off. Linear and relu models only; the reference path trains it.
  double adversarial_training = 0;
  // A bias inside the hidden ReLU (b_hidden [m]), for the kinds that have one (relu_hidden, abs). The paper
  // (E18): given one, the ReLU hidden-layer model sets it positive and stays linear.
  bool hidden_bias = false;

  init_scheme init = init_scheme::reference;
  // A factor on the init scheme's standard deviation (1: the scheme's own); the learning-dynamics experiments
  // (E14, E15) start small to separate the regimes.
  double init_scale = 1.0;
  std::uint64_t seed = 0;
  int threads = 0;  // 0: all hardware threads. Never changes a result.
  // Shard shard_index of shard_count along the instance axis: this run trains the grid's instances
  // [i G / N, (i + 1) G / N) (G = grid_count(); empty when N > G), each the same model, bit for bit, as in
  // the whole grid's run (its init scale is the grid's, its stream its own), so merged shards equal that run.
  std::int64_t shard_index = 0;
  std::int64_t shard_count = 1;

  // Throws usage_error naming the first field that is out of range and what is allowed.
  void validate() const;
  // What is allowed but likely unintended (importances that underflow to 0 in float32), one line each; the
  // front doors print them (CLI) or raise Python warnings. Assumes a valid config.
  std::vector<std::string> warnings() const;
  // The whole grid: |density| x |importance| x restarts instances; a shard trains a slice of it.
  std::int64_t grid_count() const;
  // The instances this run trains: [first, end) of the grid (all of it without shards).
  std::int64_t shard_first() const;
  std::int64_t shard_end() const;
  std::int64_t instance_count() const { return shard_end() - shard_first(); }
};

// The named recipes. "reference": the companion notebook (AdamW lr 1e-3, weight decay 0.01, batch 1024,
// 10,000 steps, stacked Xavier init). "arena": the ARENA exercises (Adam without weight decay, 5,000 steps,
// ARENA's init). Throws usage_error for an unknown name.
train_config preset_config(std::string_view name);
std::vector<std::string> preset_names();

// One trained model of the run, in instance order.
struct instance_spec {
  double density = 1;
  std::vector<float> importance;  // [n]
  int density_index = 0;
  int importance_index = 0;
  int restart = 0;
};
// The instances the run trains, in grid order (density, then importance, then restart): the shard's slice.
std::vector<instance_spec> config_instances(const train_config& config);
std::vector<float> importance_values(const importance_spec& spec, int n);

// The input values a model is trained on unless the user names others: signed for abs (|x| of values in
// [0, 1) is the identity, nothing to compute), uniform for the rest (the paper's).
value_distribution default_values(model_kind kind);

// The front doors' rule for the set options: set_size and density_of apply to set data only (given with
// independent features they are refused, never ignored). Throws usage_error naming the option.
void check_set_options(const train_config& config, bool set_size_given, bool density_of_given);

// Feature i's marginal density (probability of being non-zero) in an instance of density p: p times its
// relative density (capped at 1) for independent features; p for correlated sets; p / set_size for
// anticorrelated sets under the paper's convention, p under ARENA's (density_of = feature).
double marginal_density(const train_config& config, double p, int i);
// The probability that a set is active, for set data: p, or set_size p for anticorrelated sets whose
// density is each feature's (density_of = feature).
double set_activation(const train_config& config, double p);

// Names used by the CLI, TOML and JSON; the parse functions throw usage_error naming `field`.
std::string_view model_name(model_kind kind);
std::string_view data_name(data_kind data);
std::string_view set_density_name(set_density rule);
data_kind parse_data(std::string_view text, std::string_view field = "data");
set_density parse_set_density(std::string_view text, std::string_view field = "density_of");
std::string_view schedule_name(lr_schedule schedule);
std::string_view init_name(init_scheme init);
std::string_view values_name(value_distribution values);
model_kind parse_model(std::string_view text, std::string_view field = "model");
lr_schedule parse_schedule(std::string_view text, std::string_view field = "schedule");
init_scheme parse_init(std::string_view text, std::string_view field = "init");
value_distribution parse_values(std::string_view text, std::string_view field = "values");

// Strict number parsing for list-valued flags: the whole token must be a finite number.
double parse_finite(std::string_view text, std::string_view field);
std::vector<double> parse_number_list(std::string_view text, std::string_view field);

}  // namespace tms
