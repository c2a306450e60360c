// The one table of every model's parameters (llm.c's fill_in_parameter_sizes): for each kind, its named
// tensors, their shapes per instance and how each starts. Everything that touches parameters reads it:
// init, the optimizer (over the flat vector it describes), snapshots, run folders (weights.npz holds one
// entry per tensor, named as here, shape [K, shape...]), the Python binding and Run. Adding a model is one
// entry in model_tensors (model_tensors.cpp) plus its model file.
//
// One instance's parameters are one flat float vector [P], the tensors back to back in table order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace tms {

// xavier: N(0, init_std^2) from the instance's init stream (init.hpp); zero: all 0 (the notebook's biases).
enum class tensor_init { xavier, zero };

struct tensor_spec {
  std::string name;        // weights.npz's entry, Run's attribute
  std::vector<int> shape;  // per instance, e.g. {n, m}
  tensor_init init = tensor_init::zero;
  std::size_t offset = 0;  // into one instance's parameter vector
  std::size_t size = 0;    // the product of shape
};

// What the model's output is trained to reproduce: the input x itself (the autoencoders) or |x| (abs).
enum class model_target { input, absolute };

struct model_layout {
  model_kind kind = model_kind::relu_output;
  int n = 0, m = 0;
  bool hidden_bias = false;
  model_target target = model_target::input;
  std::vector<tensor_spec> tensors;
  std::size_t params = 0;  // P, the sum of the sizes
  // The tensor whose row i is feature i's direction in the hidden space ([n][m]): W of the tied models,
  // W_in of abs. Geometry, norms and neuron measurements read it.
  std::string embedding;

  const tensor_spec* find(std::string_view name) const;
  const tensor_spec& at(std::string_view name) const;  // throws run_error for a name not in the table
  std::vector<std::string> names() const;
};

// The table. Throws usage_error for a hidden bias on a kind without hidden activations to bias.
model_layout model_tensors(model_kind kind, int n, int m, bool hidden_bias = false);
model_layout model_tensors(const train_config& config);

// K instances' values of every tensor of a layout, one contiguous array per tensor [K][shape...] (the
// order weights.npz and the binding use), with the moves between that and one instance's flat vector.
struct model_weights {
  model_layout layout;
  std::int64_t count = 0;                  // instances
  std::vector<std::vector<float>> values;  // [tensor][count size]

  // Zero-filled: `count` instances of `layout`.
  void assign(const model_layout& layout, std::int64_t count);
  bool empty() const { return count == 0; }
  std::vector<float>& operator[](std::string_view name);
  const std::vector<float>& operator[](std::string_view name) const;
  // Instance k's tensor `name` ([size] floats).
  const float* of(std::string_view name, std::int64_t k) const;
  // Instance k's flat vector [P] out of / into the per-tensor arrays.
  void gather(std::int64_t k, float* params) const;
  void scatter(std::int64_t k, const float* params);
  // Keeps instances [0, count) (snapshots cut short).
  void truncate(std::int64_t count);
  // Whether these are `count` instances of `layout`: the same kind, n, m, tensor names and array sizes.
  bool fits(const model_layout& layout, std::int64_t count) const;
  // Throws usage_error "FIELD: ..." saying what these weights are and what is allowed, unless they fit.
  void require_fits(const model_layout& layout, std::int64_t count, std::string_view field) const;
};

}  // namespace tms
