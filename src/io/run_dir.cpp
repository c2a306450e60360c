#include "io/run_dir.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/version.hpp"
#include "io/atomic_file.hpp"
#include "io/npz.hpp"

namespace tms::io {

using nlohmann::json;

namespace {

// Measurements are float32 quantities; writing them at float precision keeps metrics.json readable.
json rounded(double v) {
  if (!std::isfinite(v)) return nullptr;
  // The shortest decimal that reads back as the same float: 0.3, not 0.30000001192092896.
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v)).ptr;
  double shortest = 0;
  std::from_chars(buf, end, shortest);
  return json(shortest);
}

json rounded(const std::vector<double>& v) {
  json out = json::array();
  for (double x : v) out.push_back(rounded(x));
  return out;
}

}  // namespace

json config_to_json(const train_config& c) {
  json importance = json::array();
  for (const auto& spec : c.importance) {
    if (spec.values.empty())
      importance.push_back(spec.base);
    else
      importance.push_back(spec.values);
  }
  return json{{"preset", c.preset},
              {"model", model_name(c.model)},
              {"features", c.features},
              {"hidden", c.hidden},
              {"density", c.density},
              {"importance", importance},
              {"restarts", c.restarts},
              {"relative_density", c.relative_density},
              {"steps", c.steps},
              {"batch", c.batch},
              {"optimizer", c.weight_decay > 0 ? "adamw" : "adam"},
              {"lr", c.lr},
              {"schedule", schedule_name(c.schedule)},
              {"beta1", c.beta1},
              {"beta2", c.beta2},
              {"eps", c.eps},
              {"weight_decay", c.weight_decay},
              {"init", init_name(c.init)},
              {"seed", c.seed},
              {"threads", c.threads}};
}

json run_to_json(const train_config& c, const train_result& r) {
  const int n = r.n, m = r.m;
  const int points = static_cast<int>(r.curve_step.size());
  json instances = json::array();
  for (std::int64_t k = 0; k < r.K(); ++k) {
    const float* W = r.W.data() + k * n * m;
    const float* b = r.b.data() + k * n;
    const auto& inst = r.instances[k];
    const instance_metrics mt = measure(W, n, m);
    std::vector<double> bias(b, b + n);
    std::vector<double> curve(r.curve_loss.begin() + k * points, r.curve_loss.begin() + (k + 1) * points);
    json j{{"index", k},
           {"density", inst.density},
           {"importance_index", inst.importance_index},
           {"restart", inst.restart},
           {"stream_seed", r.stream_seed[k]},
           {"loss", rounded(r.final_loss[k])},
           {"frobenius_sq", rounded(mt.frobenius_sq)},
           {"dims_per_feature", rounded(mt.dims_per_feature)},
           {"represented", mt.represented},
           {"norms", rounded(mt.norms)},
           {"bias", rounded(bias)},
           {"superposition", rounded(mt.superposition)},
           {"dimensionality", rounded(mt.dimensionality)},
           {"loss_curve", rounded(curve)}};
    if (c.model == model_kind::linear) {
      std::vector<double> density(n, inst.density);
      for (int i = 0; i < n && !c.relative_density.empty(); ++i)
        density[i] = std::min(1.0, inst.density * c.relative_density[i]);
      const linear_loss_terms t =
          linear_loss_decomposition(W, b, inst.importance.data(), density.data(), n, m);
      j["loss_decomposition"] = {{"feature_benefit", rounded(t.feature_benefit)},
                                 {"interference", rounded(t.interference)},
                                 {"bias", rounded(t.bias)},
                                 {"expected_loss", rounded(t.total)}};
    }
    instances.push_back(std::move(j));
  }
  json run{{"instances", r.K()}, {"threads", r.threads}, {"seconds", r.seconds}, {"init_std", r.init_std}};
  return json{{"format_version", metrics_format_version},
              {"tms_version", version},
              {"config", config_to_json(c)},
              {"run", run},
              {"represented_norm", represented_norm},
              {"curve_steps", r.curve_step},
              {"instances", instances}};
}

void prepare_run_dir(const std::filesystem::path& dir, std::string_view field) {
  ensure_writable_dir(dir, field);
  std::error_code ec;
  std::filesystem::remove(dir / "metrics.json", ec);
}

void write_run(const std::filesystem::path& dir, const train_config& c, const train_result& r) {
  const std::int64_t K = r.K(), n = r.n, m = r.m;
  std::vector<double> density(K);
  std::vector<float> importance;
  std::vector<std::int64_t> restart(K);
  for (std::int64_t k = 0; k < K; ++k) {
    density[k] = r.instances[k].density;
    restart[k] = r.instances[k].restart;
    importance.insert(importance.end(), r.instances[k].importance.begin(), r.instances[k].importance.end());
  }
  write_npz(dir / "weights.npz",
            {npy_f32("W", {K, n, m}, r.W), npy_f32("b", {K, n}, r.b), npy_f64("density", {K}, density),
             npy_f32("importance", {K, n}, importance), npy_i64("restart", {K}, restart)});
  write_file_atomic(dir / "metrics.json", run_to_json(c, r).dump(1) + "\n");
}

json read_metrics(const std::filesystem::path& dir) {
  const auto path = dir / "metrics.json";
  std::ifstream in(path);
  if (!in)
    throw usage_error("run: '" + dir.string() +
                      "' holds no metrics.json; allowed: a folder written by 'tms train' that finished");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw usage_error("run: " + path.string() + " is not valid JSON");
  if (j.value("format_version", -1) != metrics_format_version)
    throw usage_error("run: " + path.string() + " has format_version " +
                      j.value("format_version", json()).dump() +
                      "; allowed: " + std::to_string(metrics_format_version) +
                      " (rerun 'tms train' with tms " + version + ")");
  return j;
}

}  // namespace tms::io
