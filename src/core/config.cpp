#include "core/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/checks.hpp"
#include "core/data_sparse.hpp"
#include "core/errors.hpp"

namespace tms {
namespace {

using checks::check_int;
using checks::check_real;
using checks::fail;
using checks::fmt;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double float_max = std::numeric_limits<float>::max();

// I_i in double, before the rounding to float that training uses.
double importance_exact(const importance_spec& spec, int i) {
  return spec.values.empty() ? std::pow(spec.base, i) : spec.values[i];
}

std::string describe(const importance_spec& spec) {
  return spec.values.empty() ? "base " + fmt(spec.base) : "the explicit list";
}

}  // namespace

void train_config::validate() const {
  check_int("features", features, 1, 100000);
  check_int("hidden", hidden, 1, 100000);
  if (density.empty()) fail("density", "the list is empty; allowed: one or more numbers in (0, 1]");
  for (double d : density) check_real("density", d, 0, true, 1, false);
  if (importance.empty()) fail("importance", "the list is empty; allowed: a base or a list of n weights");
  for (const auto& spec : importance) {
    if (spec.values.empty()) {
      check_real("importance", spec.base, 0, true, inf, true);
    } else {
      if (static_cast<int>(spec.values.size()) != features)
        fail("importance", "an explicit list has " + std::to_string(spec.values.size()) +
                               " weights; allowed: exactly features = " + std::to_string(features) +
                               " weights, or a single base");
      for (double v : spec.values) check_real("importance", v, 0, false, inf, true);
    }
    // Training multiplies float32 errors by I_i: an I_i beyond float32 makes every step's loss infinite.
    for (int i = 0; i < features; ++i)
      if (importance_exact(spec, i) > float_max)
        fail("importance", describe(spec) + " gives I_" + std::to_string(i) + " = " +
                               fmt(importance_exact(spec, i)) +
                               ", beyond float32 (3.4e38); allowed: importances up to 3.4e38 (features are "
                               "numbered from 0, I_i = base^i)");
  }
  // Repeated values would train bit-identical models (the same stream, the same init): never what was meant.
  std::vector<double> sorted_density = density;
  std::sort(sorted_density.begin(), sorted_density.end());
  const auto same_density = std::adjacent_find(sorted_density.begin(), sorted_density.end());
  if (same_density != sorted_density.end())
    fail("density", fmt(*same_density) +
                        " is listed more than once, which would train identical models; allowed: distinct "
                        "values (for differently initialised copies use restarts)");
  std::vector<std::pair<std::vector<float>, std::size_t>> vectors;
  for (std::size_t q = 0; q < importance.size(); ++q)
    vectors.emplace_back(importance_values(importance[q], features), q);
  std::sort(vectors.begin(), vectors.end());
  for (std::size_t j = 1; j < vectors.size(); ++j)
    if (vectors[j].first == vectors[j - 1].first)
      fail("importance", "entries " + std::to_string(vectors[j - 1].second) + " and " +
                             std::to_string(vectors[j].second) +
                             " give the same importance vector, which would train identical models; allowed: "
                             "distinct importances (for differently initialised copies use restarts)");
  if (!relative_density.empty()) {
    if (static_cast<int>(relative_density.size()) != features)
      fail("relative_density", "has " + std::to_string(relative_density.size()) +
                                   " entries; allowed: exactly features = " + std::to_string(features) +
                                   " positive numbers, or none");
    for (double r : relative_density) check_real("relative_density", r, 0, true, inf, true);
  }
  if (data != data_kind::independent) {
    check_int("set_size", set_size, 2, features);
    if (features % set_size != 0)
      fail("set_size", std::to_string(set_size) + " does not divide features = " + std::to_string(features) +
                           "; allowed: a divisor of n that is at least 2");
    if (!relative_density.empty())
      fail("relative_density",
           "per-feature densities apply to independent features only; allowed: none with data '" +
               std::string(data_name(data)) + "'");
    if (data == data_kind::anticorrelated && density_of == set_density::feature)
      for (double d : density)
        if (d * set_size > 1)
          fail("density", fmt(d) + " with density_of 'feature' needs a set of " + std::to_string(set_size) +
                              " active with probability " + fmt(d * set_size) +
                              "; allowed: densities up to 1 / set_size = " + fmt(1.0 / set_size));
  }
  check_int("restarts", restarts, 1, 1000000);
  check_int("steps", steps, 1, 1000000000);
  check_int("batch", batch, 1, 1 << 20);
  check_int("loss_curve_points", loss_curve_points, 0, 100000);
  check_real("lr", lr, 0, true, inf, true);
  check_real("beta1", beta1, 0, false, 1, true);
  check_real("beta2", beta2, 0, false, 1, true);
  check_real("eps", eps, 0, true, inf, true);
  check_real("weight_decay", weight_decay, 0, false, inf, true);
  check_real("l1", l1, 0, false, inf, true);
  if (hidden_bias && model != model_kind::relu_hidden && model != model_kind::abs)
    fail("hidden_bias", "the model '" + std::string(model_name(model)) +
                            "' has no hidden activation to bias; allowed: relu-hidden, abs");
  check_real("init_scale", init_scale, 0, true, 1000, false);
  check_int("adversarial_samples", adversarial_samples, 0, std::int64_t{1} << 30);
  if (adversarial_samples > 0 && model != model_kind::linear && model != model_kind::relu_output)
    fail("adversarial_samples",
         "the attack is defined for x' = act(W^T W x + b); allowed: with the models linear, "
         "relu (not '" +
             std::string(model_name(model)) + "')");
  check_real("adversarial_training", adversarial_training, 0, false, 100, false);
  if (adversarial_training > 0 && model != model_kind::linear && model != model_kind::relu_output)
    fail("adversarial_training",
         "the attack is defined for x' = act(W^T W x + b); allowed: with the models linear, relu (not '" +
             std::string(model_name(model)) + "')");
  check_int("threads", threads, 0, 1024);
  check_int("shard_count", shard_count, 1, 10000000);
  if (shard_index < 0 || shard_index >= shard_count)
    fail("shard", std::to_string(shard_index) + "/" + std::to_string(shard_count) +
                      " is not a shard; allowed: I/N with 0 <= I < N");
  if (grid_count() > 10000000)
    fail("instances", std::to_string(grid_count()) +
                          " instances (density x importance x restarts); allowed: at most 10000000");
  // The per-thread workspace holds a dense [B][n] output; refuse sizes that cannot fit in memory.
  if (static_cast<std::int64_t>(batch) * features > (std::int64_t{1} << 31))
    fail("batch", "batch x features = " + std::to_string(static_cast<std::int64_t>(batch) * features) +
                      "; allowed: at most 2^31");
}

std::vector<std::string> train_config::warnings() const {
  std::vector<std::string> out;
  for (const auto& spec : importance) {
    const std::vector<float> I = importance_values(spec, features);
    for (int i = 0; i < features; ++i)
      if (I[i] == 0.0f && importance_exact(spec, i) > 0) {
        out.push_back("importance: " + describe(spec) + " underflows to 0 in float32 from I_" +
                      std::to_string(i) + " on (" + fmt(importance_exact(spec, i)) +
                      "): those features carry no weight in the loss and stay unlearned");
        break;
      }
  }
  return out;
}

std::int64_t train_config::grid_count() const {
  return static_cast<std::int64_t>(density.size()) * static_cast<std::int64_t>(importance.size()) * restarts;
}

// i G / N in 128-bit arithmetic (G and N up to 10^7 each fit in 64 bits, their product may not in general).
std::int64_t train_config::shard_first() const {
  return static_cast<std::int64_t>(static_cast<__int128>(grid_count()) * shard_index / shard_count);
}
std::int64_t train_config::shard_end() const {
  return static_cast<std::int64_t>(static_cast<__int128>(grid_count()) * (shard_index + 1) / shard_count);
}

train_config preset_config(std::string_view name) {
  train_config c;
  if (name == "reference") return c;
  if (name == "arena") {
    c.preset = "arena";
    c.steps = 5000;
    c.weight_decay = 0;  // ARENA uses torch.optim.Adam: AdamW without decay
    c.init = init_scheme::arena;
    return c;
  }
  fail("preset", "unknown preset '" + std::string(name) + "'; allowed: reference, arena");
}

std::vector<std::string> preset_names() {
  return {"reference", "arena"};
}

std::vector<float> importance_values(const importance_spec& spec, int n) {
  std::vector<float> I(n);
  for (int i = 0; i < n; ++i)
    I[i] =
        spec.values.empty() ? static_cast<float>(std::pow(spec.base, i)) : static_cast<float>(spec.values[i]);
  return I;
}

std::vector<instance_spec> config_instances(const train_config& config) {
  std::vector<instance_spec> out;
  out.reserve(config.instance_count());
  const std::int64_t first = config.shard_first(), end = config.shard_end();
  const std::int64_t Q = static_cast<std::int64_t>(config.importance.size()), R = config.restarts;
  std::vector<std::vector<float>> I(Q);
  for (std::int64_t q = 0; q < Q; ++q) I[q] = importance_values(config.importance[q], config.features);
  for (std::int64_t g = first; g < end; ++g) {  // grid index g = (d Q + q) R + r
    const auto d = static_cast<int>(g / (Q * R)), q = static_cast<int>(g / R % Q),
               r = static_cast<int>(g % R);
    out.push_back({config.density[d], I[q], d, q, r});
  }
  return out;
}

std::string_view model_name(model_kind kind) {
  switch (kind) {
    case model_kind::linear:
      return "linear";
    case model_kind::relu_output:
      return "relu";
    case model_kind::relu_hidden:
      return "relu-hidden";
    case model_kind::abs:
      return "abs";
  }
  return "?";
}

value_distribution default_values(model_kind kind) {
  switch (kind) {
    case model_kind::linear:
    case model_kind::relu_output:
    case model_kind::relu_hidden:
      return value_distribution::uniform;
    case model_kind::abs:
      return value_distribution::signed_uniform;
  }
  return value_distribution::uniform;
}

std::string_view schedule_name(lr_schedule s) {
  switch (s) {
    case lr_schedule::constant:
      return "constant";
    case lr_schedule::linear:
      return "linear";
    case lr_schedule::cosine:
      return "cosine";
  }
  return "?";
}

std::string_view init_name(init_scheme init) {
  switch (init) {
    case init_scheme::reference:
      return "reference";
    case init_scheme::arena:
      return "arena";
    case init_scheme::independent:
      return "independent";
  }
  return "?";
}

void check_set_options(const train_config& c, bool set_size_given, bool density_of_given) {
  if (c.data != data_kind::independent) return;
  if (set_size_given)
    fail("set_size", "applies to sets of features only; allowed: with data correlated or anticorrelated");
  if (density_of_given)
    fail("density_of", "applies to sets of features only; allowed: with data correlated or anticorrelated");
}

double marginal_density(const train_config& c, double p, int i) {
  switch (c.data) {
    case data_kind::independent:
      return feature_density(p, c.relative_density, i);
    case data_kind::correlated:
      return p;
    case data_kind::anticorrelated:
      return c.density_of == set_density::set ? p / c.set_size : p;
  }
  return p;
}

double set_activation(const train_config& c, double p) {
  return c.data == data_kind::anticorrelated && c.density_of == set_density::feature ? p * c.set_size : p;
}

std::string_view data_name(data_kind data) {
  switch (data) {
    case data_kind::independent:
      return "independent";
    case data_kind::correlated:
      return "correlated";
    case data_kind::anticorrelated:
      return "anticorrelated";
  }
  return "?";
}

std::string_view set_density_name(set_density rule) {
  switch (rule) {
    case set_density::set:
      return "set";
    case set_density::feature:
      return "feature";
  }
  return "?";
}

data_kind parse_data(std::string_view text, std::string_view field) {
  if (text == "independent") return data_kind::independent;
  if (text == "correlated") return data_kind::correlated;
  if (text == "anticorrelated") return data_kind::anticorrelated;
  fail(field, "unknown data '" + std::string(text) + "'; allowed: independent, correlated, anticorrelated");
}

set_density parse_set_density(std::string_view text, std::string_view field) {
  if (text == "set") return set_density::set;
  if (text == "feature") return set_density::feature;
  fail(field, "unknown rule '" + std::string(text) +
                  "'; allowed: set (1 - S is the probability a set is active), feature (each feature's)");
}

std::string_view values_name(value_distribution values) {
  switch (values) {
    case value_distribution::uniform:
      return "uniform";
    case value_distribution::signed_uniform:
      return "signed";
  }
  return "?";
}

value_distribution parse_values(std::string_view text, std::string_view field) {
  if (text == "uniform") return value_distribution::uniform;
  if (text == "signed") return value_distribution::signed_uniform;
  fail(field, "unknown values '" + std::string(text) + "'; allowed: uniform ([0, 1)), signed ([-1, 1))");
}

model_kind parse_model(std::string_view text, std::string_view field) {
  if (text == "linear") return model_kind::linear;
  if (text == "relu" || text == "relu_output" || text == "relu-output") return model_kind::relu_output;
  if (text == "relu-hidden" || text == "relu_hidden") return model_kind::relu_hidden;
  if (text == "abs") return model_kind::abs;
  fail(field, "unknown model '" + std::string(text) + "'; allowed: linear, relu, relu-hidden, abs");
}

lr_schedule parse_schedule(std::string_view text, std::string_view field) {
  if (text == "constant") return lr_schedule::constant;
  if (text == "linear") return lr_schedule::linear;
  if (text == "cosine") return lr_schedule::cosine;
  fail(field, "unknown schedule '" + std::string(text) + "'; allowed: constant, linear, cosine");
}

init_scheme parse_init(std::string_view text, std::string_view field) {
  if (text == "reference") return init_scheme::reference;
  if (text == "arena") return init_scheme::arena;
  if (text == "independent") return init_scheme::independent;
  fail(field, "unknown init '" + std::string(text) + "'; allowed: reference, arena, independent");
}

double parse_finite(std::string_view text, std::string_view field) {
  std::string_view t = text;
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  double v = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(v)) {
    // Appended rather than concatenated: GCC 12 warns falsely (-Wrestrict) on the inlined operator+ chain.
    std::string what = "'";
    what.append(text).append("' is not a finite number");
    fail(field, what);
  }
  return v;
}

std::vector<double> parse_number_list(std::string_view text, std::string_view field) {
  std::vector<double> out;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    out.push_back(
        parse_finite(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start), field));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace tms
