#include "io/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/analysis_adversarial.hpp"
#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/version.hpp"
#include "io/atomic_file.hpp"
#include "io/instance_table.hpp"
#include "io/npz.hpp"

namespace tms::io {

using nlohmann::json;

namespace {

constexpr const char* weights_file = "weights.npz";
constexpr const char* snapshots_file = "snapshots.npz";
constexpr const char* metrics_file = "metrics.json";
constexpr const char* instances_file = "instances.npz";

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

json digest_json(const file_digest& d) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", d.crc32);
  return json{{"bytes", d.bytes}, {"crc32", hex}};
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
  json out{{"preset", c.preset},
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
           {"l1", c.l1},
           {"values", values_name(c.values)},
           {"init", init_name(c.init)},
           {"seed", c.seed},
           {"threads", c.threads}};
  // Written only when set, so runs without one read as before (the weights then hold no b_hidden).
  if (c.hidden_bias) out["hidden_bias"] = true;
  if (c.init_scale != 1.0) out["init_scale"] = c.init_scale;  // likewise
  if (c.adversarial_samples > 0) out["adversarial_samples"] = c.adversarial_samples;
  if (c.adversarial_training > 0) out["adversarial_training"] = c.adversarial_training;
  if (c.loss_curve_points != 200) out["loss_curve_points"] = c.loss_curve_points;
  if (c.shard_count > 1) {  // a shard of a grid (merged, the grid's own run: no shard)
    out["shard_index"] = c.shard_index;
    out["shard_count"] = c.shard_count;
  }
  if (c.data != data_kind::independent) {  // likewise: a run of independent features reads as before
    out["data"] = data_name(c.data);
    out["set_size"] = c.set_size;
    out["density_of"] = set_density_name(c.density_of);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Strict reading of JSON: every accessor names the path of the value it rejects.

namespace {

struct json_reader {
  std::string prefix;  // "run: DIR/metrics.json: "

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw usage_error(prefix + where + " " + what + "; allowed: a run folder as tms writes it");
  }
  const json& key(const json& obj, const std::string& where, const char* name) const {
    if (!obj.is_object()) fail(where, "is not an object");
    const auto it = obj.find(name);
    if (it == obj.end()) fail(where.empty() ? std::string(name) : where + "." + name, "is missing");
    return *it;
  }
  double number(const json& j, const std::string& where, bool null_allowed = false) const {
    if (null_allowed && j.is_null()) return std::nan("");
    if (!j.is_number()) fail(where, null_allowed ? "is not a number or null" : "is not a number");
    const double v = j.get<double>();
    if (!std::isfinite(v)) fail(where, "is not finite");
    return v;
  }
  std::int64_t integer(const json& j, const std::string& where, std::int64_t lo, std::int64_t hi) const {
    if (!j.is_number_integer()) fail(where, "is not an integer");
    if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      fail(where, "is out of range");
    const std::int64_t v = j.get<std::int64_t>();
    if (v < lo || v > hi)
      fail(where,
           "is " + std::to_string(v) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
  }
  std::uint64_t unsigned_integer(const json& j, const std::string& where) const {
    if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<std::int64_t>() >= 0))
      fail(where, "is not a non-negative integer");
    return j.get<std::uint64_t>();
  }
  std::string string(const json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, "is not a string");
    return j.get<std::string>();
  }
  const json& array(const json& j, const std::string& where, std::optional<std::size_t> length = {}) const {
    if (!j.is_array()) fail(where, "is not a list");
    if (length && j.size() != *length)
      fail(where, "has " + std::to_string(j.size()) + " entries, not " + std::to_string(*length));
    return j;
  }
  std::vector<double> numbers(const json& j, const std::string& where, std::optional<std::size_t> length = {},
                              bool null_allowed = false) const {
    array(j, where, length);
    std::vector<double> out;
    out.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i)
      out.push_back(number(j[i], where + "[" + std::to_string(i) + "]", null_allowed));
    return out;
  }
};

std::string key_path(const std::string& where, const char* name) {
  return where.empty() ? name : where + "." + name;
}

train_config config_from(const json_reader& r, const json& j, const std::string& where) {
  if (!j.is_object()) r.fail(where, "is not an object");
  auto get = [&](const char* name) -> const json& { return r.key(j, where, name); };
  const std::string preset = r.string(get("preset"), key_path(where, "preset"));
  train_config c;
  try {
    c = preset_config(preset);
  } catch (const usage_error& e) {
    r.fail(key_path(where, "preset"), std::string("is not a preset (") + e.what() + ")");
  }
  auto as_int = [&](const char* name) {
    return static_cast<int>(r.integer(get(name), key_path(where, name), std::numeric_limits<int>::min(),
                                      std::numeric_limits<int>::max()));
  };
  auto as_real = [&](const char* name) { return r.number(get(name), key_path(where, name)); };
  // A named setting: a string (checked by the reader), then the engine's parser, whose message gets the file.
  auto as_name = [&](const char* name, auto parse) {
    const std::string field = key_path(where, name), text = r.string(get(name), field);
    try {
      return parse(text, field);
    } catch (const usage_error& e) {
      throw usage_error(r.prefix + e.what());
    }
  };
  c.model = as_name("model", [](const std::string& t, const std::string& f) { return parse_model(t, f); });
  c.schedule =
      as_name("schedule", [](const std::string& t, const std::string& f) { return parse_schedule(t, f); });
  c.init = as_name("init", [](const std::string& t, const std::string& f) { return parse_init(t, f); });
  c.values = as_name("values", [](const std::string& t, const std::string& f) { return parse_values(t, f); });
  c.features = as_int("features");
  c.hidden = as_int("hidden");
  c.restarts = as_int("restarts");
  c.steps = as_int("steps");
  c.batch = as_int("batch");
  c.threads = as_int("threads");
  c.lr = as_real("lr");
  c.beta1 = as_real("beta1");
  c.beta2 = as_real("beta2");
  c.eps = as_real("eps");
  c.weight_decay = as_real("weight_decay");
  c.l1 = as_real("l1");
  if (j.contains("init_scale")) c.init_scale = as_real("init_scale");
  if (j.contains("adversarial_samples")) c.adversarial_samples = as_int("adversarial_samples");
  if (j.contains("adversarial_training")) c.adversarial_training = as_real("adversarial_training");
  if (j.contains("loss_curve_points")) c.loss_curve_points = as_int("loss_curve_points");
  if (j.contains("shard_index") || j.contains("shard_count")) {
    c.shard_index = as_int("shard_index");
    c.shard_count = as_int("shard_count");
    if (c.shard_count < 2)
      r.fail(key_path(where, "shard_count"), "is below 2 (a whole run records no shard)");
  }
  if (j.contains("data")) {
    c.data = as_name("data", [](const std::string& t, const std::string& f) { return parse_data(t, f); });
    c.set_size = as_int("set_size");
    c.density_of = as_name(
        "density_of", [](const std::string& t, const std::string& f) { return parse_set_density(t, f); });
  }
  if (j.contains("hidden_bias")) {
    const json& hb = j["hidden_bias"];
    if (!hb.is_boolean()) r.fail(key_path(where, "hidden_bias"), "is not true or false");
    c.hidden_bias = hb.get<bool>();
  }
  c.seed = r.unsigned_integer(get("seed"), key_path(where, "seed"));
  c.density = r.numbers(get("density"), key_path(where, "density"));
  c.relative_density = r.numbers(get("relative_density"), key_path(where, "relative_density"));
  const json& importance = r.array(get("importance"), key_path(where, "importance"));
  c.importance.clear();
  for (std::size_t q = 0; q < importance.size(); ++q) {
    const std::string at = key_path(where, "importance") + "[" + std::to_string(q) + "]";
    importance_spec spec;
    if (importance[q].is_array())
      spec.values = r.numbers(importance[q], at);
    else
      spec.base = r.number(importance[q], at);
    c.importance.push_back(spec);
  }
  const std::string optimizer = r.string(get("optimizer"), key_path(where, "optimizer"));
  if (optimizer != (c.weight_decay > 0 ? "adamw" : "adam"))
    r.fail(key_path(where, "optimizer"), "'" + optimizer + "' disagrees with weight_decay");
  try {
    c.validate();
  } catch (const usage_error& e) {
    throw usage_error(r.prefix + where + ": " + e.what());
  }
  return c;
}

}  // namespace

train_config config_from_json(const json& j, std::string_view field) {
  json_reader r{std::string(field) + ": "};
  return config_from(r, j, "");
}

// ---------------------------------------------------------------------------------------------------------
// Writing

namespace {

// metrics.json's summary of the instances' final losses (min, median, max; empty with no instances).
json summary_json(std::vector<double> loss) {
  json summary = json::object();
  if (loss.empty()) return summary;
  std::sort(loss.begin(), loss.end());
  summary["loss"] = {{"min", rounded(loss.front())},
                     {"median", rounded(loss[loss.size() / 2])},
                     {"max", rounded(loss.back())}};
  return summary;
}

}  // namespace

json run_to_json(const train_config& c, const train_result& r, const json& files) {
  // The per-instance results are instances.npz's columns (instance_table.hpp); here, what describes them and
  // a summary a reader can take in at a glance.
  json columns = json::object();
  for (const column_spec& col : instance_columns(c)) columns[col.name] = col.meaning;
  const json summary = summary_json(r.final_loss);
  json run{{"instances", r.K()},     {"threads", r.threads},       {"seconds", r.seconds},
           {"init_std", r.init_std}, {"steps_done", r.steps_done}, {"first_step", r.first_step},
           {"files", files}};
  return json{{"format_version", metrics_format_version},
              {"tms_version", version},
              {"config", config_to_json(c)},
              {"run", run},
              {"represented_norm", represented_norm},
              {"curve_steps", r.curve_step},
              {"instance_columns", columns},
              {"summary", summary}};
}

run_dir_claim::run_dir_claim(const std::filesystem::path& dir, bool overwrite, std::string_view field)
    : dir_(dir) {
  const std::string f(field);
  created_ = !std::filesystem::exists(dir);
  ensure_writable_dir(dir, field);
  lock_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ < 0)
    throw usage_error(f + ": cannot open the folder '" + dir.string() + "' (" + std::strerror(errno) + ")");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw usage_error(f + ": '" + dir.string() +
                      "' is being written by another tms run; allowed: a folder no other run is writing");
  }
  if (std::filesystem::exists(dir / metrics_file) && !overwrite) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw usage_error(
        f + ": '" + dir.string() +
        "' already holds a finished run; allowed: a new folder, or --overwrite (overwrite=True) to "
        "replace it once the new run has finished");
  }
  // With the lock held no other writer is active here, so every temporary file is a killed writer's.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (is_temporary_name(entry.path().filename().string())) std::filesystem::remove(entry.path(), ec);
}

run_dir_claim::~run_dir_claim() {
  if (lock_fd_ >= 0) {
    if (created_) {
      std::error_code ec;
      std::filesystem::remove(dir_, ec);  // only removes the folder if nothing was written into it
    }
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
  }
}

std::int64_t run_write_memory_bytes(const train_config& c, std::size_t snapshot_count) {
  // The instance table three times (its columns, their npy_array copies, the encoded entries), and the npz
  // encodings of W, b and the snapshots (each copied twice).
  const double K = static_cast<double>(c.instance_count()), n = c.features;
  const double P = static_cast<double>(model_tensors(c).params);
  const double arrays = K * (P + 2 * n + 2) * 4 * 2 + snapshot_count * K * (P + 2) * 4 * 2;
  return static_cast<std::int64_t>(
      std::min(9.0e18, 3.0 * static_cast<double>(instance_table_bytes(c)) + arrays));
}

void check_run_fits(const train_config& c, std::size_t snapshot_count) {
  const std::int64_t memory = physical_memory_bytes();
  const double need = static_cast<double>(train_memory_bytes(c, snapshot_count, false)) +
                      static_cast<double>(run_write_memory_bytes(c, snapshot_count));
  if (memory > 0 && need > static_cast<double>(memory)) {
    char text[160];
    std::snprintf(text, sizeof text,
                  "about %.3g GB of memory to train and write, more than this machine's %.3g GB", need / 1e9,
                  static_cast<double>(memory) / 1e9);
    throw usage_error("instances, features, hidden: this run (" + std::to_string(c.instance_count()) +
                      " instances of n = " + std::to_string(c.features) + ", m = " +
                      std::to_string(c.hidden) + ", batch " + std::to_string(c.batch) + ") needs " + text +
                      "; allowed: fewer or smaller instances, a smaller batch or fewer snapshots");
  }
}

void write_run(const run_dir_claim& claim, const train_config& c, const train_result& r,
               const std::string& init_from) {
  if (!r.weights.fits(model_tensors(c), r.K()))
    throw usage_error("result: its tensors are not those of the configuration's model '" +
                      std::string(model_name(c.model)) + "'; allowed: a result of this configuration");
  const std::filesystem::path& dir = claim.dir();
  const std::int64_t K = r.K(), n = r.n, m = r.m;
  // A folder that read_run would refuse is never written: the instances must be the configuration's.
  const std::vector<instance_spec> specs = config_instances(c);
  bool whole = static_cast<std::int64_t>(specs.size()) == K && n == c.features && m == c.hidden;
  for (std::int64_t k = 0; whole && k < K; ++k)
    whole = specs[k].density == r.instances[k].density && specs[k].restart == r.instances[k].restart &&
            specs[k].importance == r.instances[k].importance &&
            r.stream_seed[k] == instance_stream_seed(c, specs[k]);
  if (!whole)
    throw usage_error("run: these " + std::to_string(K) + " instances are not the " +
                      std::to_string(specs.size()) +
                      " of the configuration (a selection of a run?); allowed: a whole run as trained");
  std::vector<double> density(K);
  std::vector<float> importance;
  std::vector<std::int64_t> restart(K);
  for (std::int64_t k = 0; k < K; ++k) {
    density[k] = r.instances[k].density;
    restart[k] = r.instances[k].restart;
    importance.insert(importance.end(), r.instances[k].importance.begin(), r.instances[k].importance.end());
  }
  std::vector<std::filesystem::path> temporaries;
  try {
    json files = json::object();
    // One entry per tensor of the table, [K, shape...], then the instances' settings.
    const auto tensor_entries = [&](const model_weights& w, std::vector<std::int64_t> lead) {
      std::vector<npy_array> entries;
      for (std::size_t j = 0; j < w.layout.tensors.size(); ++j) {
        std::vector<std::int64_t> shape = lead;
        for (int d : w.layout.tensors[j].shape) shape.push_back(d);
        entries.push_back(npy_f32(w.layout.tensors[j].name, shape, w.values[j]));
      }
      return entries;
    };
    std::vector<npy_array> weight_entries = tensor_entries(r.weights, {K});
    weight_entries.push_back(npy_f64("density", {K}, density));
    weight_entries.push_back(npy_f32("importance", {K, n}, importance));
    weight_entries.push_back(npy_i64("restart", {K}, restart));
    const auto weights_tmp = write_npz_temporary(dir / weights_file, weight_entries);
    temporaries.push_back(weights_tmp);
    files[weights_file] = digest_json(digest_file(weights_tmp, "out"));
    std::filesystem::path snapshots_tmp;
    if (!r.snapshot_step.empty()) {
      const auto S = static_cast<std::int64_t>(r.snapshot_step.size());
      std::vector<npy_array> snapshot_entries{npy_i64("step", {S}, r.snapshot_step)};
      for (auto& e : tensor_entries(r.snapshots, {S, K})) snapshot_entries.push_back(std::move(e));
      snapshot_entries.push_back(npy_f64("loss", {S, K}, r.snapshot_loss));
      snapshots_tmp = write_npz_temporary(dir / snapshots_file, snapshot_entries);
      temporaries.push_back(snapshots_tmp);
      files[snapshots_file] = digest_json(digest_file(snapshots_tmp, "out"));
    }
    const auto instances_tmp = write_npz_temporary(dir / instances_file, instance_table(c, r));
    temporaries.push_back(instances_tmp);
    files[instances_file] = digest_json(digest_file(instances_tmp, "out"));
    json doc = run_to_json(c, r, files);
    if (!init_from.empty()) doc["run"]["init_from"] = init_from;
    const auto metrics_tmp = write_temporary(dir / metrics_file, doc.dump(1) + "\n");
    temporaries.push_back(metrics_tmp);
    // Everything is on disk; now the renames, metrics.json last. Until it lands, the old metrics.json (if
    // any) no longer matches the new weights' digest, which readers report instead of mixing two runs.
    commit_file(weights_tmp, dir / weights_file);
    if (!snapshots_tmp.empty()) {
      commit_file(snapshots_tmp, dir / snapshots_file);
    } else {
      std::error_code ec;
      std::filesystem::remove(dir / snapshots_file, ec);  // an earlier run's snapshots are not this run's
    }
    commit_file(instances_tmp, dir / instances_file);
    commit_file(metrics_tmp, dir / metrics_file);
  } catch (...) {
    std::error_code ec;
    for (const auto& t : temporaries) std::filesystem::remove(t, ec);
    throw;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading

namespace {

const npy_array& find_array(const std::vector<npy_array>& arrays, const std::string& where, const char* name,
                            const char* descr, const std::vector<std::int64_t>& shape) {
  for (const auto& a : arrays)
    if (a.name == name) {
      auto shape_text = [](const std::vector<std::int64_t>& s) {
        std::string t = "(";
        for (std::size_t d = 0; d < s.size(); ++d) t += (d ? ", " : "") + std::to_string(s[d]);
        return t + ")";
      };
      if (a.descr != descr || a.shape != shape)
        throw usage_error(where + ": " + name + " is " + a.descr + " " + shape_text(a.shape) + ", not the " +
                          descr + " " + shape_text(shape) +
                          " its metrics.json describes; allowed: a run folder "
                          "as tms writes it");
      return a;
    }
  throw usage_error(where + ": holds no array '" + std::string(name) +
                    "'; allowed: a run folder as tms writes it");
}

void require_finite(const std::vector<float>& v, const std::string& where, const char* name) {
  for (float x : v)
    if (!std::isfinite(x))
      throw usage_error(where + ": " + name +
                        " holds non-finite values; allowed: a run folder as tms writes it");
}

void check_digest(const json_reader& r, const json& files, const std::filesystem::path& dir,
                  const char* name) {
  const std::string where = std::string("run.files.") + name;
  const json& d = r.key(files, "run.files", name);
  const std::int64_t bytes =
      r.integer(r.key(d, where, "bytes"), where + ".bytes", 0, std::numeric_limits<std::int64_t>::max());
  const std::string crc = r.string(r.key(d, where, "crc32"), where + ".crc32");
  if (!std::filesystem::is_regular_file(dir / name))
    throw usage_error("run: '" + dir.string() + "' holds metrics.json but no " + name +
                      "; allowed: a run folder as tms writes it");
  const file_digest actual = digest_file(dir / name, "run");
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", actual.crc32);
  if (actual.bytes != bytes || crc != hex)
    throw usage_error("run: " + (dir / name).string() + " has " + std::to_string(actual.bytes) +
                      " bytes with CRC-32 " + hex + ", not the " + std::to_string(bytes) +
                      " bytes with CRC-32 " + crc +
                      " recorded in metrics.json (truncated, modified, or from another run); allowed: the "
                      "files written with that metrics.json");
}

}  // namespace

run_folder read_run(const std::filesystem::path& dir) {
  const auto path = dir / metrics_file;
  if (!std::filesystem::is_directory(dir))
    throw usage_error("run: '" + dir.string() +
                      "' is not a folder; allowed: a folder written by 'tms train'");
  if (!std::filesystem::is_regular_file(path)) {
    std::string hint;
    const auto inside = run_folders_inside(dir);
    if (!inside.empty()) {
      hint = "; it holds the run folders";
      for (std::size_t j = 0; j < inside.size() && j < 12; ++j) hint += (j ? ", " : " ") + inside[j];
      if (inside.size() > 12) hint += ", ... (" + std::to_string(inside.size()) + " in all)";
    }
    throw usage_error("run: '" + dir.string() + "' holds no metrics.json" + hint +
                      "; allowed: a folder written by 'tms train' that finished");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw usage_error("run: cannot read " + path.string());
  json_reader r{"run: " + path.string() + ": "};
  json doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw usage_error("run: " + path.string() + " is not valid JSON; allowed: metrics.json as tms writes it");
  const json& version_node = r.key(doc, "", "format_version");
  if (!version_node.is_number_integer() || version_node.get<std::int64_t>() != metrics_format_version)
    throw usage_error("run: " + path.string() + " has format_version " + version_node.dump() +
                      "; allowed: " + std::to_string(metrics_format_version) +
                      " (rerun 'tms train' with tms " + version + ")");

  r.string(r.key(doc, "", "tms_version"), "tms_version");
  run_folder out;
  out.config = config_from(r, r.key(doc, "", "config"), "config");
  const train_config& c = out.config;
  const std::int64_t K = c.instance_count();
  const int n = c.features, m = c.hidden;
  out.K = K;
  out.n = n;
  out.m = m;
  const std::vector<instance_spec> specs = config_instances(c);

  const json& run = r.key(doc, "", "run");
  if (r.integer(r.key(run, "run", "instances"), "run.instances", 0,
                std::numeric_limits<std::int64_t>::max()) != K)
    r.fail("run.instances", "disagrees with the configuration's " + std::to_string(K) + " instances");
  r.integer(r.key(run, "run", "threads"), "run.threads", 0, 1 << 20);
  r.number(r.key(run, "run", "seconds"), "run.seconds");
  r.number(r.key(run, "run", "init_std"), "run.init_std");
  const std::int64_t steps_done = r.integer(r.key(run, "run", "steps_done"), "run.steps_done", 1, c.steps);
  r.integer(r.key(run, "run", "first_step"), "run.first_step", 0, std::numeric_limits<std::int64_t>::max());
  if (run.contains("init_from")) r.string(run["init_from"], "run.init_from");
  r.number(r.key(doc, "", "represented_norm"), "represented_norm");

  const json& curve_steps = r.array(r.key(doc, "", "curve_steps"), "curve_steps");
  const std::size_t P = curve_steps.size();
  if (P > static_cast<std::size_t>(curve_points(c)))
    r.fail("curve_steps", "has more points than the run's steps allow");
  std::int64_t previous = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const std::int64_t s =
        r.integer(curve_steps[p], "curve_steps[" + std::to_string(p) + "]", previous + 1, steps_done);
    previous = s;
  }

  // What describes the columns of instances.npz: exactly this configuration's.
  const json& columns = r.key(doc, "", "instance_columns");
  if (!columns.is_object()) r.fail("instance_columns", "is not an object");
  {
    const std::vector<column_spec> spec = instance_columns(c);
    bool same = columns.size() == spec.size();
    for (const auto& col : spec)
      same = same && columns.contains(col.name) && columns[col.name].is_string() &&
             columns[col.name].get<std::string>() == col.meaning;
    if (!same) r.fail("instance_columns", "are not the columns of this configuration");
  }
  const json& summary = r.key(doc, "", "summary");
  if (!summary.is_object()) r.fail("summary", "is not an object");

  // The files beside metrics.json: whole, and the ones written with it.
  const json& files = r.key(run, "run", "files");
  if (!files.is_object()) r.fail("run.files", "is not an object");
  check_digest(r, files, dir, weights_file);
  check_digest(r, files, dir, instances_file);
  {
    const std::int64_t n_curve = static_cast<std::int64_t>(P);
    const std::int64_t column_bytes = K * std::max<std::int64_t>(n, std::max<std::int64_t>(n_curve, 1)) * 8;
    out.instances = read_npz(dir / instances_file, "run", column_bytes + 4096);
    check_instance_table(out.instances, c, K, n_curve, (dir / instances_file).string());
    // The summary is the columns' (recomputed here, so it cannot disagree with them).
    std::vector<double> loss;
    for (const auto& a : out.instances)
      if (a.name == "loss") loss = npy_values<double>(a);
    if (summary != summary_json(loss))
      r.fail("summary", "disagrees with instances.npz (written with another run, or edited)");
  }
  const std::int64_t array_bytes =
      static_cast<std::int64_t>(K) * (static_cast<std::int64_t>(model_tensors(c).params) + 2 * n) * 4 +
      K * 16 + 4096;
  const std::string wpath = (dir / weights_file).string();
  const auto arrays = read_npz(dir / weights_file, "run", array_bytes);
  const model_layout layout = model_tensors(c);
  // The tensors of the table, [K, shape...] each, finite.
  const auto read_tensors = [&](model_weights& w, const std::vector<npy_array>& from, const std::string& path,
                                std::vector<std::int64_t> lead) {
    const std::int64_t count = lead.size() == 1 ? lead[0] : lead[0] * lead[1];
    w.assign(layout, count);
    for (std::size_t j = 0; j < layout.tensors.size(); ++j) {
      std::vector<std::int64_t> shape = lead;
      for (int d : layout.tensors[j].shape) shape.push_back(d);
      w.values[j] = npy_values<float>(find_array(from, path, layout.tensors[j].name.c_str(), "<f4", shape));
      require_finite(w.values[j], path, layout.tensors[j].name.c_str());
    }
  };
  const auto tensor_list = [&]() {
    std::string names;
    for (const auto& t : layout.tensors) names += t.name + ", ";
    return names;
  };
  read_tensors(out.weights, arrays, wpath, {K});
  out.density = npy_values<double>(find_array(arrays, wpath, "density", "<f8", {K}));
  out.importance = npy_values<float>(find_array(arrays, wpath, "importance", "<f4", {K, n}));
  out.restart = npy_values<std::int64_t>(find_array(arrays, wpath, "restart", "<i8", {K}));
  if (arrays.size() != layout.tensors.size() + 3)
    throw usage_error(wpath + ": holds arrays other than " + tensor_list() +
                      "density, importance, restart; allowed: a run folder as tms writes it");
  for (std::int64_t k = 0; k < K; ++k) {
    if (out.density[k] != specs[k].density || out.restart[k] != specs[k].restart ||
        !std::equal(specs[k].importance.begin(), specs[k].importance.end(), out.importance.begin() + k * n))
      throw usage_error(wpath + ": instance " + std::to_string(k) +
                        "'s density, importance or restart disagrees with metrics.json; allowed: a run "
                        "folder as tms writes it");
  }
  if (files.contains(snapshots_file)) {
    check_digest(r, files, dir, snapshots_file);
    const std::string spath = (dir / snapshots_file).string();
    const auto snaps =
        read_npz(dir / snapshots_file, "run", static_cast<std::int64_t>(c.steps + 1) * array_bytes);
    const npy_array& step = [&]() -> const npy_array& {
      for (const auto& a : snaps)
        if (a.name == "step") return a;
      throw usage_error(spath + ": holds no array 'step'; allowed: a run folder as tms writes it");
    }();
    if (step.descr != "<i8" || step.shape.size() != 1)
      throw usage_error(spath + ": step is not an int64 list; allowed: a run folder as tms writes it");
    const std::int64_t S = step.shape[0];
    out.snapshot_step = npy_values<std::int64_t>(step);
    for (std::int64_t j = 0; j < S; ++j)
      if (out.snapshot_step[j] < 0 || out.snapshot_step[j] > steps_done ||
          (j && out.snapshot_step[j] <= out.snapshot_step[j - 1]))
        throw usage_error(spath + ": step is not an ascending list of steps in [0, " +
                          std::to_string(steps_done) + "]; allowed: a run folder as tms writes it");
    read_tensors(out.snapshots, snaps, spath, {S, K});
    out.snapshot_loss = npy_values<double>(find_array(snaps, spath, "loss", "<f8", {S, K}));
    if (snaps.size() != layout.tensors.size() + 2)
      throw usage_error(spath + ": holds arrays other than step, " + tensor_list() +
                        "loss; allowed: a run folder as tms writes it");
  }
  if (!files.contains(snapshots_file) && std::filesystem::exists(dir / snapshots_file))
    throw usage_error(
        "run: " + (dir / snapshots_file).string() +
        " is not recorded in metrics.json (from another run); allowed: the files written with it");
  if (files.size() != (files.contains(snapshots_file) ? 3u : 2u))
    r.fail("run.files", "names files other than weights.npz, instances.npz and snapshots.npz");
  out.metrics = std::move(doc);
  return out;
}

std::vector<std::string> run_folders_inside(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_directory(ec) && std::filesystem::is_regular_file(entry.path() / metrics_file, ec))
      out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tms::io
