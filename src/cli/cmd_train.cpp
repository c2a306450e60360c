// tms train: train K instances from flags and/or a TOML file (flags override the file, the file overrides the
// preset), then write the run folder.
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "core/trainer.hpp"
#include "io/run_dir.hpp"
#include "io/toml_config.hpp"

namespace tms::cli {
namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_sigint(int) {
  interrupted = true;
}

std::int64_t parse_integer(const std::string& text, std::string_view field) {
  std::int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
    throw usage_error(std::string(field) + ": '" + text + "' is not an integer");
  return v;
}

int parse_int(const std::string& text, std::string_view field) {
  const std::int64_t v = parse_integer(text, field);
  if (v < -(std::int64_t{1} << 31) || v >= (std::int64_t{1} << 31))
    throw usage_error(std::string(field) + ": " + text + " is too large");
  return static_cast<int>(v);
}

struct train_flags {
  std::string config, preset, model, features, hidden, importance, density, relative_density, restarts, steps,
      batch, lr, schedule, beta1, beta2, eps, weight_decay, l1, values, data, set_size, density_of, init,
      init_scale, adversarial_samples, adversarial_training, curve_points, shard, seed, threads;
  std::string out = "runs/latest";
  bool hidden_bias = false;
  bool quiet = false;
  bool print_config = false;
  bool overwrite = false;
};

std::string fmt_default(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string join(const std::vector<double>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + fmt_default(v[i]);
  return s;
}

class progress_line {
 public:
  explicit progress_line(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  bool operator()(const train_progress& p) {
    if (enabled_ && p.steps_total > 0) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      const double rate = secs > 0 ? p.steps_done / secs : 0;
      const double eta = rate > 0 ? (p.steps_total - p.steps_done) / rate : 0;
      std::fprintf(stderr, "\r  %5.1f%%  step %.0f of %lld  %.3g steps/s  ETA %.0f s   ",
                   100.0 * p.steps_done / p.steps_total, p.steps_done, static_cast<long long>(p.steps_total),
                   rate, eta);
      if (p.steps_done >= p.steps_total) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    }
    return !interrupted.load();
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

void run_train(const train_flags& f, CLI::App& app) {
  auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };

  // Defaults: the preset (flag, else the file's `preset`, else reference), then the file, then the flags.
  std::shared_ptr<io::toml_document> doc;
  if (given("--config")) doc = io::toml_parse_config(f.config);
  std::string preset = "reference";
  if (doc)
    if (auto p = io::toml_preset(*doc)) preset = *p;
  if (given("--preset")) preset = f.preset;
  train_config c = preset_config(preset);
  if (doc) io::toml_apply(c, *doc);

  if (given("--model")) c.model = parse_model(f.model);
  if (given("--features")) c.features = parse_int(f.features, "features");
  if (given("--hidden")) c.hidden = parse_int(f.hidden, "hidden");
  if (given("--importance")) {
    auto values = parse_number_list(f.importance, "importance");
    importance_spec spec;
    if (values.size() == 1)
      spec.base = values[0];
    else
      spec.values = values;
    c.importance = {spec};
  }
  if (given("--density")) c.density = parse_number_list(f.density, "density");
  if (given("--relative-density"))
    c.relative_density = parse_number_list(f.relative_density, "relative_density");
  if (given("--restarts")) c.restarts = parse_int(f.restarts, "restarts");
  if (given("--steps")) c.steps = parse_int(f.steps, "steps");
  if (given("--batch")) c.batch = parse_int(f.batch, "batch");
  if (given("--curve-points")) c.loss_curve_points = parse_int(f.curve_points, "loss_curve_points");
  if (given("--lr")) c.lr = parse_finite(f.lr, "lr");
  if (given("--schedule")) c.schedule = parse_schedule(f.schedule);
  if (given("--beta1")) c.beta1 = parse_finite(f.beta1, "beta1");
  if (given("--beta2")) c.beta2 = parse_finite(f.beta2, "beta2");
  if (given("--eps")) c.eps = parse_finite(f.eps, "eps");
  if (given("--weight-decay")) c.weight_decay = parse_finite(f.weight_decay, "weight_decay");
  if (given("--l1")) c.l1 = parse_finite(f.l1, "l1");
  // The model's own values (signed for abs) unless the file or a flag names them.
  if (!given("--values") && !(doc && io::toml_has(*doc, "values"))) c.values = default_values(c.model);
  if (given("--values")) c.values = parse_values(f.values);
  if (given("--hidden-bias")) c.hidden_bias = f.hidden_bias;
  if (given("--data")) c.data = parse_data(f.data);
  if (given("--set-size")) c.set_size = parse_int(f.set_size, "set_size");
  if (given("--density-of")) c.density_of = parse_set_density(f.density_of);
  check_set_options(c, given("--set-size") || (doc && io::toml_has(*doc, "set_size")),
                    given("--density-of") || (doc && io::toml_has(*doc, "density_of")));
  if (given("--init")) c.init = parse_init(f.init);
  if (given("--init-scale")) c.init_scale = parse_finite(f.init_scale, "init_scale");
  if (given("--adversarial-samples"))
    c.adversarial_samples = parse_integer(f.adversarial_samples, "adversarial_samples");
  if (given("--adversarial-training"))
    c.adversarial_training = parse_finite(f.adversarial_training, "adversarial_training");
  if (given("--shard")) {
    // I/N: shard I (from 0) of N along the instance axis.
    const auto slash = f.shard.find('/');
    if (slash == std::string::npos)
      throw usage_error("shard: '" + f.shard + "' is not I/N; allowed: shard I of N, 0 <= I < N (e.g. 0/4)");
    c.shard_index = parse_integer(f.shard.substr(0, slash), "shard");
    c.shard_count = parse_integer(f.shard.substr(slash + 1), "shard");
  }
  if (given("--seed")) {
    const std::int64_t seed = parse_integer(f.seed, "seed");
    if (seed < 0) throw usage_error("seed: " + f.seed + " is negative; allowed: an integer >= 0");
    c.seed = static_cast<std::uint64_t>(seed);
  }
  if (given("--threads")) c.threads = parse_int(f.threads, "threads");
  c.validate();
  if (f.print_config) {  // the resolved configuration only (what tms sweep hands its shards); nothing trained
    std::printf("%s\n", io::config_to_json(c).dump().c_str());
    return;
  }
  io::check_run_fits(c, 0);
  for (const auto& w : c.warnings()) std::fprintf(stderr, "tms: warning: %s\n", w.c_str());

  // The folder is claimed before training (refused when in use or finished, unless --overwrite) and its
  // previous run is replaced only once this one has been written.
  const std::filesystem::path out = f.out;
  io::run_dir_claim claim(out, f.overwrite);
  train_options options;
  if (!f.quiet)
    std::fprintf(stderr, "tms: training %lld %s model(s)%s, n=%d m=%d, %d steps, batch %d, preset %s -> %s\n",
                 static_cast<long long>(c.instance_count()), std::string(model_name(c.model)).c_str(),
                 c.shard_count > 1
                     ? (" (shard " + std::to_string(c.shard_index) + "/" + std::to_string(c.shard_count) +
                        " of " + std::to_string(c.grid_count()) + ")")
                           .c_str()
                     : "",
                 c.features, c.hidden, c.steps, c.batch, c.preset.c_str(), out.c_str());

  // Ctrl-C cancels cleanly (no run written); the previous handler is restored afterwards, because the Python
  // package runs this same code inside the interpreter.
  interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  try {
    progress_line progress(!f.quiet && ::isatty(STDERR_FILENO));
    options.progress = std::ref(progress);
    const train_result result = train(c, options);
    io::write_run(claim, c, result);
    if (!f.quiet)
      std::printf("wrote %s/weights.npz and metrics.json (%.2f s, %d threads); see: tms analyze %s\n",
                  out.c_str(), result.seconds, result.threads, out.c_str());
    std::signal(SIGINT, previous);
  } catch (...) {
    std::signal(SIGINT, previous);
    throw;  // the claim removes a folder it created and left empty
  }
}

}  // namespace

command add_train_command(CLI::App& root) {
  auto flags = std::make_shared<train_flags>();
  CLI::App* app =
      root.add_subcommand("train", "Train K toy models (instances) and write weights.npz + metrics.json");
  const train_config d;  // the reference preset: the defaults shown in --help
  auto opt = [&](const char* name, std::string& target, const std::string& help, const std::string& def,
                 const char* type = "NUM") {
    app->add_option(name, target, help + (def.empty() ? "" : " [default: " + def + "]"))->type_name(type);
  };
  opt("--config", flags->config, "TOML file with any of the settings below (flags override it)", "", "FILE");
  opt("--preset", flags->preset, "Recipe the defaults come from: reference (companion notebook) or arena",
      d.preset, "NAME");
  opt("--model", flags->model,
      "linear (x' = W^T W x + b), relu (x' = ReLU(W^T W x + b)), relu-hidden (x' = ReLU(W^T ReLU(W x) + "
      "b)) or abs (y' = ReLU(W_out ReLU(W_in x) + b), trained to output |x|)",
      std::string(model_name(d.model)), "NAME");
  opt("--features,-n", flags->features, "Number of features n", std::to_string(d.features), "INT");
  opt("--hidden,-m", flags->hidden, "Number of hidden dimensions m", std::to_string(d.hidden), "INT");
  opt("--importance", flags->importance, "Importance: a base (I_i = base^i) or a comma list of n weights",
      fmt_default(d.importance[0].base), "NUM|LIST");
  opt("--density", flags->density, "Comma list of feature densities 1-S in (0, 1], one instance each",
      join(d.density), "LIST");
  opt("--relative-density", flags->relative_density,
      "Comma list of n per-feature density multipliers (feature i: min(1, density x r_i))", "", "LIST");
  opt("--restarts", flags->restarts, "Differently initialised copies of each instance",
      std::to_string(d.restarts), "INT");
  opt("--steps", flags->steps, "Training steps", std::to_string(d.steps), "INT");
  opt("--batch", flags->batch, "Batch size B (a fresh batch every step)", std::to_string(d.batch), "INT");
  opt("--curve-points", flags->curve_points,
      "Loss-curve points per instance (window means); 0: none, only the final loss (large sweeps)",
      std::to_string(d.loss_curve_points), "INT");
  opt("--lr", flags->lr, "AdamW learning rate", fmt_default(d.lr));
  opt("--schedule", flags->schedule, "Learning-rate schedule: constant, linear or cosine",
      std::string(schedule_name(d.schedule)), "NAME");
  opt("--beta1", flags->beta1, "AdamW beta1", fmt_default(d.beta1));
  opt("--beta2", flags->beta2, "AdamW beta2", fmt_default(d.beta2));
  opt("--eps", flags->eps, "AdamW eps", fmt_default(d.eps));
  opt("--weight-decay", flags->weight_decay, "Decoupled weight decay on W and b (0: Adam)",
      fmt_default(d.weight_decay));
  opt("--l1", flags->l1,
      "L1 penalty on the hidden activations: + l1 x mean over the batch of sum_j |h_j| (E22)",
      fmt_default(d.l1));
  opt("--values", flags->values, "Active features' values: uniform on [0, 1) or signed, uniform on [-1, 1)",
      "uniform; signed for abs", "NAME");
  opt("--data", flags->data,
      "Features: independent, or in sets of --set-size consecutive features, correlated (a set is all zero "
      "or "
      "all non-zero) or anticorrelated (all zero or exactly one non-zero)",
      std::string(data_name(d.data)), "NAME");
  opt("--set-size", flags->set_size, "Features per set (a divisor of n, at least 2), for set data",
      std::to_string(d.set_size), "INT");
  opt("--density-of", flags->density_of,
      "For sets: 1-S is the probability that a set is active (set: the paper's) or that each feature is "
      "(feature: ARENA's)",
      std::string(set_density_name(d.density_of)), "NAME");
  app->add_flag("--hidden-bias,!--no-hidden-bias", flags->hidden_bias,
                "A bias inside the hidden ReLU (relu-hidden, abs): b_hidden [m] in weights.npz");
  opt("--init", flags->init, "Init scale: reference (depends on K), arena, or independent (not on K)",
      std::string(init_name(d.init)), "NAME");
  opt("--init-scale", flags->init_scale, "A factor on the init's standard deviation (E14, E15 start small)",
      fmt_default(d.init_scale));
  opt("--adversarial-samples", flags->adversarial_samples,
      "Measure each instance's adversarial vulnerability (E16) on this many samples into metrics.json (0: "
      "no)",
      std::to_string(d.adversarial_samples), "INT");
  opt("--adversarial-training", flags->adversarial_training,
      "Train on attacked inputs (E17): each sample moved by the analytic attack on a random feature at this "
      "multiple of the batch's mean input norm (0: no)",
      fmt_default(d.adversarial_training));
  opt("--shard", flags->shard,
      "Train shard I of N of the instance axis (I from 0): the instances [I K / N, (I + 1) K / N), each the "
      "same model as in the whole run; tms merge joins the shards",
      "", "I/N");
  opt("--seed", flags->seed, "Random seed (restart r uses seed + r)", std::to_string(d.seed), "INT");
  opt("--threads", flags->threads, "Threads; 0 = all cores (never changes a result)",
      std::to_string(d.threads), "INT");
  opt("--out,-o", flags->out, "Run folder to write", flags->out, "DIR");
  app->add_flag("--quiet,-q", flags->quiet, "No progress or summary output");
  app->add_flag(
      "--print-config", flags->print_config,
      "Print the resolved configuration as JSON (as metrics.json records it) and exit, training nothing");
  app->add_flag("--overwrite", flags->overwrite,
                "Replace a finished run in --out (only once the new run has finished)");
  return {app, [flags, app]() { run_train(*flags, *app); }};
}

}  // namespace tms::cli
