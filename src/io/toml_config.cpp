#include "io/toml_config.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <memory>
#include <sstream>

#include "core/errors.hpp"

namespace tms::io {

struct toml_document {
  std::string source;  // the file name, for messages
  toml::table table;
};

namespace {

constexpr const char* allowed_keys =
    "preset, model, features, hidden, density, importance, importances, relative_density, restarts, steps, "
    "batch, lr, schedule, beta1, beta2, eps, weight_decay, l1, values, data, set_size, density_of, "
    "hidden_bias, init, init_scale, adversarial_samples, adversarial_training, loss_curve_points, seed, "
    "threads";

[[noreturn]] void fail(const toml_document& doc, std::string_view key, const std::string& what) {
  throw usage_error(std::string(key) + ": " + what + " (in " + doc.source + ")");
}

double as_number(const toml_document& doc, std::string_view key, const toml::node& node) {
  if (auto v = node.as_integer()) return static_cast<double>(v->get());
  if (auto v = node.as_floating_point()) {
    if (!std::isfinite(v->get())) fail(doc, key, "must be a finite number");
    return v->get();
  }
  fail(doc, key, "expected a number");
}

std::int64_t as_integer(const toml_document& doc, std::string_view key, const toml::node& node) {
  if (auto v = node.as_integer()) return v->get();
  fail(doc, key, "expected an integer");
}

int as_int(const toml_document& doc, std::string_view key, const toml::node& node) {
  const std::int64_t v = as_integer(doc, key, node);
  if (v < -(std::int64_t{1} << 31) || v >= (std::int64_t{1} << 31))
    fail(doc, key, "the integer is too large");
  return static_cast<int>(v);
}

std::string as_string(const toml_document& doc, std::string_view key, const toml::node& node) {
  if (auto v = node.as_string()) return v->get();
  fail(doc, key, "expected a string");
}

std::vector<double> as_number_list(const toml_document& doc, std::string_view key, const toml::node& node) {
  std::vector<double> out;
  if (auto arr = node.as_array()) {
    for (const auto& item : *arr) out.push_back(as_number(doc, key, item));
  } else {
    out.push_back(as_number(doc, key, node));
  }
  return out;
}

importance_spec as_importance(const toml_document& doc, std::string_view key, const toml::node& node) {
  importance_spec spec;
  if (node.is_array())
    spec.values = as_number_list(doc, key, node);
  else
    spec.base = as_number(doc, key, node);
  return spec;
}

}  // namespace

std::shared_ptr<toml_document> toml_parse_config(const std::filesystem::path& path) {
  auto doc = std::make_shared<toml_document>();
  doc->source = path.string();
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw usage_error("config: " + path.string() + " is not a file; allowed: a TOML file");
  try {
    doc->table = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    std::string what(e.description());
    if (!std::filesystem::exists(path)) what = "no such file";
    throw usage_error(
        "config: " + path.string() +
        (where.line ? ":" + std::to_string(where.line) + ":" + std::to_string(where.column) : "") + ": " +
        what);
  }
  return doc;
}

bool toml_has(const toml_document& doc, std::string_view key) {
  return doc.table.contains(key);
}

std::optional<std::string> toml_preset(const toml_document& doc) {
  if (const toml::node* node = doc.table.get("preset")) return as_string(doc, "preset", *node);
  return std::nullopt;
}

void toml_apply(train_config& c, const toml_document& doc) {
  for (const auto& [key_node, node] : doc.table) {
    const std::string key(key_node.str());
    if (key == "preset")
      continue;  // chosen by the caller before the other keys
    else if (key == "model")
      c.model = parse_model(as_string(doc, key, node), key);
    else if (key == "features")
      c.features = as_int(doc, key, node);
    else if (key == "hidden")
      c.hidden = as_int(doc, key, node);
    else if (key == "density")
      c.density = as_number_list(doc, key, node);
    else if (key == "importance")
      c.importance = {as_importance(doc, key, node)};
    else if (key == "importances") {
      const toml::array* arr = node.as_array();
      if (!arr) fail(doc, key, "expected a list of bases or weight lists");
      c.importance.clear();
      for (const auto& item : *arr) c.importance.push_back(as_importance(doc, key, item));
    } else if (key == "relative_density")
      c.relative_density = as_number_list(doc, key, node);
    else if (key == "restarts")
      c.restarts = as_int(doc, key, node);
    else if (key == "steps")
      c.steps = as_int(doc, key, node);
    else if (key == "batch")
      c.batch = as_int(doc, key, node);
    else if (key == "loss_curve_points")
      c.loss_curve_points = as_int(doc, key, node);
    else if (key == "lr")
      c.lr = as_number(doc, key, node);
    else if (key == "schedule")
      c.schedule = parse_schedule(as_string(doc, key, node), key);
    else if (key == "beta1")
      c.beta1 = as_number(doc, key, node);
    else if (key == "beta2")
      c.beta2 = as_number(doc, key, node);
    else if (key == "eps")
      c.eps = as_number(doc, key, node);
    else if (key == "weight_decay")
      c.weight_decay = as_number(doc, key, node);
    else if (key == "l1")
      c.l1 = as_number(doc, key, node);
    else if (key == "values")
      c.values = parse_values(as_string(doc, key, node), key);
    else if (key == "data")
      c.data = parse_data(as_string(doc, key, node), key);
    else if (key == "set_size")
      c.set_size = as_int(doc, key, node);
    else if (key == "density_of")
      c.density_of = parse_set_density(as_string(doc, key, node), key);
    else if (key == "hidden_bias") {
      const auto flag = node.value<bool>();
      if (!node.is_boolean() || !flag) fail(doc, key, "expected true or false");
      c.hidden_bias = *flag;
    } else if (key == "init")
      c.init = parse_init(as_string(doc, key, node), key);
    else if (key == "init_scale")
      c.init_scale = as_number(doc, key, node);
    else if (key == "adversarial_samples")
      c.adversarial_samples = as_integer(doc, key, node);
    else if (key == "adversarial_training")
      c.adversarial_training = as_number(doc, key, node);
    else if (key == "seed") {
      const std::int64_t seed = as_integer(doc, key, node);
      if (seed < 0) fail(doc, key, "must be >= 0");
      c.seed = static_cast<std::uint64_t>(seed);
    } else if (key == "threads")
      c.threads = as_int(doc, key, node);
    else
      fail(doc, key, std::string("unknown key; allowed: ") + allowed_keys);
  }
  if (doc.table.contains("importance") && doc.table.contains("importances"))
    fail(doc, "importances", "give either importance or importances, not both");
}

}  // namespace tms::io
