// tms analyze RUN_DIR: the measurements of a finished run as a table (or JSON).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "io/run_dir.hpp"

namespace tms::cli {
namespace {

struct analyze_flags {
  std::string run_dir;
  bool json = false;
  bool features = false;
};

double num(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::nan("");
}

// One column of instances.npz (read_run has checked every name, dtype and shape).
template <class T>
std::vector<T> column(const io::run_folder& run, const std::string& name) {
  for (const auto& a : run.instances)
    if (a.name == name) return io::npy_values<T>(a);
  return {};
}

void run_analyze(const analyze_flags& f) {
  // read_run checks the whole folder (metrics.json's schema, the files' digests, shapes and values), so a
  // broken folder is one usage error here rather than a crash or a table of wrong numbers.
  const io::run_folder run = io::read_run(f.run_dir);
  const nlohmann::json& doc = run.metrics;
  if (f.json) {
    std::printf("%s\n", doc.dump(1).c_str());
    return;
  }
  const auto& c = doc["config"];
  const bool linear = c["model"] == "linear";
  const std::int64_t K = run.K;
  const int n = run.n;
  std::printf("run %s: %s model, n=%d m=%d, %d steps, batch %d, preset %s, seed %llu, %.2f s\n",
              f.run_dir.c_str(), c["model"].get<std::string>().c_str(), c["features"].get<int>(),
              c["hidden"].get<int>(), c["steps"].get<int>(), c["batch"].get<int>(),
              c["preset"].get<std::string>().c_str(), c["seed"].get<unsigned long long>(),
              num(doc["run"]["seconds"]));
  const auto density = column<double>(run, "density"), loss = column<double>(run, "loss"),
             frobenius = column<double>(run, "frobenius_sq"), dims = column<double>(run, "dims_per_feature"),
             norms = column<double>(run, "norms"), bias = column<double>(run, "bias"),
             sup = column<double>(run, "superposition"), dim = column<double>(run, "dimensionality");
  const auto importance_index = column<std::int64_t>(run, "importance_index"),
             restart = column<std::int64_t>(run, "restart"),
             represented = column<std::int64_t>(run, "represented");
  const auto benefit = column<double>(run, "loss_decomposition.feature_benefit"),
             interference = column<double>(run, "loss_decomposition.interference"),
             split_bias = column<double>(run, "loss_decomposition.bias"),
             one_sparse = column<double>(run, "loss_decomposition.one_sparse_loss");
  const double threshold = num(doc["represented_norm"]);
  std::printf("%5s %9s %4s %4s %11s %9s %9s %5s %9s", "inst", "density", "imp", "rst", "loss", "|W|_F^2",
              "m/|W|_F^2", "repr", "sup(repr)");
  if (linear && !benefit.empty()) std::printf(" %11s %11s %11s", "benefit", "interfer.", "bias");
  if (!one_sparse.empty()) std::printf(" %11s", "1-sparse");
  std::printf("\n");
  for (std::int64_t k = 0; k < K; ++k) {
    // Mean superposition over the represented features: an unlearned feature has a tiny W_i whose direction
    // is arbitrary, so its superposition value says nothing.
    double s = 0;
    int count = 0;
    for (int i = 0; i < n; ++i)
      if (norms[k * n + i] > threshold) s += sup[k * n + i], ++count;
    std::printf("%5lld %9.4g %4lld %4lld %11.5g %9.4g %9.4g %5lld %9.4g", static_cast<long long>(k),
                density[k], static_cast<long long>(importance_index[k]), static_cast<long long>(restart[k]),
                loss[k], frobenius[k], dims[k], static_cast<long long>(represented[k]),
                count ? s / count : 0.0);
    if (linear && !benefit.empty())
      std::printf(" %11.5g %11.5g %11.5g", benefit[k], interference[k], split_bias[k]);
    if (!one_sparse.empty()) std::printf(" %11.5g", one_sparse[k]);
    std::printf("\n");
  }
  if (f.features) {
    for (std::int64_t k = 0; k < K; ++k) {
      std::printf(
          "\ninstance %lld (density %.4g; features numbered from 0, I_i = base^i):\n%7s %9s %9s %9s %9s\n",
          static_cast<long long>(k), density[k], "feature", "|W_i|", "b_i", "sup_i", "D_i");
      for (int i = 0; i < n; ++i)
        std::printf("%7d %9.4f %9.4f %9.4f %9.4f\n", i, norms[k * n + i], bias[k * n + i], sup[k * n + i],
                    dim[k * n + i]);
    }
  }
}

}  // namespace

command add_analyze_command(CLI::App& root) {
  auto flags = std::make_shared<analyze_flags>();
  CLI::App* app = root.add_subcommand("analyze", "Print the measurements of a run folder");
  app->add_option("run_dir", flags->run_dir, "Folder written by tms train")->required();
  app->add_flag("--json", flags->json, "Print metrics.json instead of a table");
  app->add_flag("--features", flags->features, "Also print per-feature norm, bias, superposition and D_i");
  return {app, [flags]() { run_analyze(*flags); }};
}

}  // namespace tms::cli
