#include "core/model_tensors.hpp"

#include <algorithm>

#include "core/errors.hpp"

namespace tms {

namespace {

void add(model_layout& L, std::string name, std::vector<int> shape, tensor_init init) {
  std::size_t size = 1;
  for (int d : shape) size *= static_cast<std::size_t>(d);
  L.tensors.push_back({std::move(name), std::move(shape), init, L.params, size});
  L.params += size;
}

}  // namespace

model_layout model_tensors(model_kind kind, int n, int m, bool hidden_bias) {
  model_layout L;
  L.kind = kind;
  L.n = n;
  L.m = m;
  L.hidden_bias = hidden_bias;
  switch (kind) {
    case model_kind::linear:
    case model_kind::relu_output:
      // W [n][m]: row i = the paper's W_i; b [n] the output bias. h = W x has no activation to bias.
      if (hidden_bias)
        throw usage_error("hidden_bias: the model '" + std::string(model_name(kind)) +
                          "' has no hidden activation to bias; allowed: relu-hidden, abs");
      add(L, "W", {n, m}, tensor_init::xavier);
      add(L, "b", {n}, tensor_init::zero);
      L.embedding = "W";
      break;
    case model_kind::relu_hidden:
      // W [n][m] tied (into the neurons and back out), b [n]; b_hidden [m] inside the hidden ReLU (last, so
      // the layout without it is the tied models').
      add(L, "W", {n, m}, tensor_init::xavier);
      add(L, "b", {n}, tensor_init::zero);
      if (hidden_bias) add(L, "b_hidden", {m}, tensor_init::zero);
      L.embedding = "W";
      break;
    case model_kind::abs:
      // W_in [n][m]: row i = feature i's weights into the m neurons; W_out [n][m]: row i = the neurons'
      // weights to output i; b [n]; b_hidden [m].
      add(L, "W_in", {n, m}, tensor_init::xavier);
      add(L, "W_out", {n, m}, tensor_init::xavier);
      add(L, "b", {n}, tensor_init::zero);
      if (hidden_bias) add(L, "b_hidden", {m}, tensor_init::zero);
      L.embedding = "W_in";
      L.target = model_target::absolute;
      break;
  }
  return L;
}

model_layout model_tensors(const train_config& c) {
  return model_tensors(c.model, c.features, c.hidden, c.hidden_bias);
}

const tensor_spec* model_layout::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const tensor_spec& model_layout::at(std::string_view name) const {
  if (const tensor_spec* t = find(name)) return *t;
  throw run_error("model '" + std::string(model_name(kind)) + "' has no tensor '" + std::string(name) + "'");
}

std::vector<std::string> model_layout::names() const {
  std::vector<std::string> out;
  for (const auto& t : tensors) out.push_back(t.name);
  return out;
}

void model_weights::assign(const model_layout& L, std::int64_t K) {
  layout = L;
  count = K;
  values.resize(L.tensors.size());
  for (std::size_t j = 0; j < L.tensors.size(); ++j)
    values[j].assign(static_cast<std::size_t>(K) * L.tensors[j].size, 0.0f);
}

std::vector<float>& model_weights::operator[](std::string_view name) {
  const tensor_spec& t = layout.at(name);
  return values[&t - layout.tensors.data()];
}

const std::vector<float>& model_weights::operator[](std::string_view name) const {
  const tensor_spec& t = layout.at(name);
  return values[&t - layout.tensors.data()];
}

const float* model_weights::of(std::string_view name, std::int64_t k) const {
  const tensor_spec& t = layout.at(name);
  return values[&t - layout.tensors.data()].data() + static_cast<std::size_t>(k) * t.size;
}

void model_weights::gather(std::int64_t k, float* params) const {
  for (std::size_t j = 0; j < layout.tensors.size(); ++j) {
    const tensor_spec& t = layout.tensors[j];
    std::copy_n(values[j].data() + static_cast<std::size_t>(k) * t.size, t.size, params + t.offset);
  }
}

void model_weights::scatter(std::int64_t k, const float* params) {
  for (std::size_t j = 0; j < layout.tensors.size(); ++j) {
    const tensor_spec& t = layout.tensors[j];
    std::copy_n(params + t.offset, t.size, values[j].data() + static_cast<std::size_t>(k) * t.size);
  }
}

void model_weights::truncate(std::int64_t K) {
  count = std::min(count, K);
  for (std::size_t j = 0; j < layout.tensors.size(); ++j)
    values[j].resize(static_cast<std::size_t>(count) * layout.tensors[j].size);
}

bool model_weights::fits(const model_layout& L, std::int64_t K) const {
  if (count != K || layout.kind != L.kind || layout.n != L.n || layout.m != L.m ||
      layout.names() != L.names() || values.size() != L.tensors.size())
    return false;
  for (std::size_t j = 0; j < L.tensors.size(); ++j)
    if (values[j].size() != static_cast<std::size_t>(K) * L.tensors[j].size) return false;
  return true;
}

void model_weights::require_fits(const model_layout& L, std::int64_t K, std::string_view field) const {
  if (fits(L, K)) return;
  std::string names;
  for (const auto& t : L.tensors) names += (names.empty() ? "" : ", ") + t.name;
  throw usage_error(std::string(field) + ": weights of " + std::to_string(count) +
                    " instances of the model '" + std::string(model_name(layout.kind)) +
                    "' (n = " + std::to_string(layout.n) + ", m = " + std::to_string(layout.m) +
                    "); allowed: " + std::to_string(K) + " instances of '" + std::string(model_name(L.kind)) +
                    "' with n = " + std::to_string(L.n) + ", m = " + std::to_string(L.m) + " and tensors " +
                    names + " (the same instances and sizes)");
}

}  // namespace tms
