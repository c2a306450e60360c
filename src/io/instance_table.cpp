#include "io/instance_table.hpp"

#include <cstring>

#include "core/analysis_adversarial.hpp"
#include "core/errors.hpp"
#include "core/metrics.hpp"

namespace tms::io {

namespace {

constexpr const char* adversarial_reals[] = {"input_norm",    "attack_norm",           "clean",
                                             "attacked",      "reference_clean",       "reference_attacked",
                                             "vulnerability", "features_per_dimension"};

}  // namespace

std::vector<column_spec> instance_columns(const train_config& c) {
  using w = column_width;
  std::vector<column_spec> out = {
      {"density", "<f8", w::instance, "1 - S of the instance"},
      {"density_index", "<i8", w::instance, "its index in the configuration's density list"},
      {"importance_index", "<i8", w::instance, "its index in the configuration's importance list"},
      {"restart", "<i8", w::instance, "its restart"},
      {"stream_seed", "<u8", w::instance, "seed + restart: what its random numbers are keyed by"},
      {"loss", "<f8", w::instance, "the mean training loss over the last 1% of steps"},
      {"loss_curve", "<f8", w::curve, "the mean loss over each window ending at curve_steps"},
      {"frobenius_sq", "<f8", w::instance, "||W||_F^2"},
      {"dims_per_feature", "<f8", w::instance, "m / ||W||_F^2 (inf when W = 0)"},
      {"represented", "<i8", w::instance, "features with ||W_i|| > represented_norm"},
      {"norms", "<f8", w::feature, "||W_i||"},
      {"bias", "<f8", w::feature, "b_i"},
      {"superposition", "<f8", w::feature, "sum_{j != i} (W^_i . W_j)^2"},
      {"dimensionality", "<f8", w::feature, "D_i"}};
  if (c.data != data_kind::independent) {
    out.push_back({"feature_density", "<f8", w::instance, "each feature's marginal density"});
    out.push_back({"set_activation", "<f8", w::instance, "the probability that a set is active"});
  }
  if (has_loss_split(c)) {
    const std::string total = loss_split_total_name(c.model);
    for (const char* term : {"feature_benefit", "interference", "bias"})
      out.push_back(
          {std::string("loss_decomposition.") + term, "<f8", w::instance, "a term of the loss split"});
    out.push_back({"loss_decomposition." + total, "<f8", w::instance, "the loss split's total"});
  }
  if (c.adversarial_samples > 0) {
    for (const char* name : adversarial_reals)
      out.push_back({std::string("adversarial.") + name, "<f8", w::instance, "E16's measurement"});
    out.push_back(
        {"adversarial.feature", "<i8", w::instance, "the attack worst for most samples: its feature"});
    out.push_back({"adversarial.sign", "<i8", w::instance, "... and its sign"});
  }
  return out;
}

std::vector<npy_array> instance_table(const train_config& c, const train_result& r) {
  const std::int64_t K = r.K();
  const int n = r.n, m = r.m;
  const auto P = static_cast<std::int64_t>(r.curve_step.size());
  const model_layout& L = r.weights.layout;
  std::vector<double> density(K), loss(K), frobenius(K), dims(K), norms(K * n), bias(K * n), sup(K * n),
      dim(K * n);
  std::vector<std::int64_t> density_index(K), importance_index(K), restart(K), represented(K);
  std::vector<double> feature_density, set_act;
  std::vector<double> split[4];
  const bool sets = c.data != data_kind::independent, splits = has_loss_split(c);
  for (std::int64_t k = 0; k < K; ++k) {
    const instance_spec& inst = r.instances[k];
    const float* W = r.weights.of(L.embedding, k);
    const float* b = r.weights.of("b", k);
    density[k] = inst.density;
    density_index[k] = inst.density_index;
    importance_index[k] = inst.importance_index;
    restart[k] = inst.restart;
    loss[k] = r.final_loss[k];
    const instance_metrics mt = measure(W, n, m);
    frobenius[k] = mt.frobenius_sq;
    dims[k] = mt.dims_per_feature;
    represented[k] = mt.represented;
    for (int i = 0; i < n; ++i) {
      norms[k * n + i] = mt.norms[i];
      bias[k * n + i] = b[i];
      sup[k * n + i] = mt.superposition[i];
      dim[k * n + i] = mt.dimensionality[i];
    }
    if (sets) {
      feature_density.push_back(marginal_density(c, inst.density, 0));  // the same for every feature
      set_act.push_back(set_activation(c, inst.density));
    }
    if (splits) {
      loss_split t;
      if (!reported_loss_split(t, c.model, c.values, c.data, W, b, inst.importance.data(), inst.density,
                               c.relative_density, n, m))
        throw run_error("instance_table: the loss split of instance " + std::to_string(k) + " is missing");
      const double terms[4] = {t.feature_benefit, t.interference, t.bias, t.total};
      for (int q = 0; q < 4; ++q) split[q].push_back(terms[q]);
    }
  }
  std::vector<npy_array> out;
  out.push_back(npy_f64("density", {K}, density));
  out.push_back(npy_i64("density_index", {K}, density_index));
  out.push_back(npy_i64("importance_index", {K}, importance_index));
  out.push_back(npy_i64("restart", {K}, restart));
  out.push_back(npy_u64("stream_seed", {K}, r.stream_seed));
  out.push_back(npy_f64("loss", {K}, loss));
  out.push_back(npy_f64("loss_curve", {K, P}, r.curve_loss));
  out.push_back(npy_f64("frobenius_sq", {K}, frobenius));
  out.push_back(npy_f64("dims_per_feature", {K}, dims));
  out.push_back(npy_i64("represented", {K}, represented));
  out.push_back(npy_f64("norms", {K, n}, norms));
  out.push_back(npy_f64("bias", {K, n}, bias));
  out.push_back(npy_f64("superposition", {K, n}, sup));
  out.push_back(npy_f64("dimensionality", {K, n}, dim));
  if (sets) {
    out.push_back(npy_f64("feature_density", {K}, feature_density));
    out.push_back(npy_f64("set_activation", {K}, set_act));
  }
  const std::vector<column_spec> spec = instance_columns(c);
  if (splits)
    for (int q = 0; q < 4; ++q) out.push_back(npy_f64(spec[out.size()].name, {K}, split[q]));
  if (c.adversarial_samples > 0) {
    // E16's measurement (analysis_adversarial.hpp) on the evaluation stream of the run's seed.
    const std::vector<adversarial_result> a =
        adversarial_vulnerability(c, r.instances, r.weights, c.adversarial_samples, c.seed);
    std::vector<double> reals[8];
    std::vector<std::int64_t> feature(K), sign(K);
    for (std::int64_t k = 0; k < K; ++k) {
      const double v[8] = {a[k].input_norm,    a[k].attack_norm,           a[k].clean,
                           a[k].attacked,      a[k].reference_clean,       a[k].reference_attacked,
                           a[k].vulnerability, a[k].features_per_dimension};
      for (int q = 0; q < 8; ++q) reals[q].push_back(v[q]);
      feature[k] = a[k].feature;
      sign[k] = a[k].sign;
    }
    for (int q = 0; q < 8; ++q)
      out.push_back(npy_f64(std::string("adversarial.") + adversarial_reals[q], {K}, reals[q]));
    out.push_back(npy_i64("adversarial.feature", {K}, feature));
    out.push_back(npy_i64("adversarial.sign", {K}, sign));
  }
  if (out.size() != spec.size())
    throw run_error("instance_table: the columns disagree with instance_columns");
  for (std::size_t j = 0; j < out.size(); ++j)
    if (out[j].name != spec[j].name || out[j].descr != spec[j].descr)
      throw run_error("instance_table: column " + out[j].name + " disagrees with instance_columns");
  return out;
}

namespace {

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "(";
  for (std::size_t d = 0; d < s.size(); ++d) t += (d ? ", " : "") + std::to_string(s[d]);
  return t + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

void check_instance_table(const std::vector<npy_array>& arrays, const train_config& c, std::int64_t K,
                          std::int64_t P, const std::string& where) {
  const std::vector<column_spec> spec = instance_columns(c);
  const std::int64_t n = c.features;
  auto fail = [&](const std::string& what) {
    throw usage_error(where + ": " + what + "; allowed: instances.npz as tms writes it");
  };
  if (arrays.size() != spec.size())
    fail("holds " + std::to_string(arrays.size()) + " columns, not the " + std::to_string(spec.size()) +
         " of this configuration");
  const std::vector<instance_spec> specs = config_instances(c);
  for (std::size_t j = 0; j < spec.size(); ++j) {
    const column_spec& s = spec[j];
    const npy_array* a = nullptr;
    for (const auto& x : arrays)
      if (x.name == s.name) a = &x;
    if (!a) fail("holds no column '" + s.name + "'");
    const std::vector<std::int64_t> shape = s.width == column_width::instance ? std::vector<std::int64_t>{K}
                                            : s.width == column_width::feature
                                                ? std::vector<std::int64_t>{K, n}
                                                : std::vector<std::int64_t>{K, P};
    if (a->descr != s.descr || a->shape != shape)
      fail(s.name + " is " + a->descr + " " + shape_text(a->shape) + ", not " + s.descr + " " +
           shape_text(shape));
    // The columns that say which instance a row is must be the configuration's.
    if (s.name == "density") {
      const auto v = npy_values<double>(*a);
      for (std::int64_t k = 0; k < K; ++k)
        if (v[k] != specs[k].density)
          fail("density of instance " + std::to_string(k) + " disagrees with the configuration");
    } else if (s.name == "density_index" || s.name == "importance_index" || s.name == "restart") {
      const auto v = npy_values<std::int64_t>(*a);
      for (std::int64_t k = 0; k < K; ++k) {
        const int want = s.name == "density_index"      ? specs[k].density_index
                         : s.name == "importance_index" ? specs[k].importance_index
                                                        : specs[k].restart;
        if (v[k] != want)
          fail(s.name + " of instance " + std::to_string(k) + " disagrees with the configuration");
      }
    } else if (s.name == "stream_seed") {
      const auto v = npy_values<std::uint64_t>(*a);
      for (std::int64_t k = 0; k < K; ++k)
        if (v[k] != instance_stream_seed(c, specs[k]))
          fail("stream_seed of instance " + std::to_string(k) + " disagrees with the configuration");
    }
  }
}

std::int64_t instance_table_bytes(const train_config& c) {
  const std::vector<column_spec> spec = instance_columns(c);
  const double K = static_cast<double>(c.instance_count()), n = c.features, P = curve_points(c);
  double per = 0;
  for (const auto& s : spec)
    per += 8 * (s.width == column_width::instance ? 1 : s.width == column_width::feature ? n : P);
  return static_cast<std::int64_t>(K * per);
}

}  // namespace tms::io
