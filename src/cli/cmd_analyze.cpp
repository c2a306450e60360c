// tms analyze RUN_DIR: the measurements of a finished run as a table (or JSON).
#include <cstdio>
#include <string>

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

// Mean superposition over the represented features: an unlearned feature has a tiny W_i whose direction is
// arbitrary, so its superposition value says nothing.
double mean_represented(const nlohmann::json& inst, double threshold) {
  double s = 0;
  int count = 0;
  for (std::size_t i = 0; i < inst["norms"].size(); ++i)
    if (num(inst["norms"][i]) > threshold) s += num(inst["superposition"][i]), ++count;
  return count ? s / count : 0;
}

void run_analyze(const analyze_flags& f) {
  // read_run checks the whole folder (metrics.json's schema, the weights' digest, shapes and values), so a
  // broken folder is one usage error here rather than a crash or a table of wrong numbers.
  const nlohmann::json doc = io::read_run(f.run_dir).metrics;
  if (f.json) {
    std::printf("%s\n", doc.dump(1).c_str());
    return;
  }
  const auto& c = doc["config"];
  const bool linear = c["model"] == "linear";
  std::printf("run %s: %s model, n=%d m=%d, %d steps, batch %d, preset %s, seed %llu, %.2f s\n",
              f.run_dir.c_str(), c["model"].get<std::string>().c_str(), c["features"].get<int>(),
              c["hidden"].get<int>(), c["steps"].get<int>(), c["batch"].get<int>(),
              c["preset"].get<std::string>().c_str(), c["seed"].get<unsigned long long>(),
              num(doc["run"]["seconds"]));
  std::printf("%5s %9s %4s %4s %11s %9s %9s %5s %9s", "inst", "density", "imp", "rst", "loss", "|W|_F^2",
              "m/|W|_F^2", "repr", "sup(repr)");
  if (linear) std::printf(" %11s %11s %11s", "benefit", "interfer.", "bias");
  if (!linear && doc["instances"][0].contains("loss_decomposition")) std::printf(" %11s", "1-sparse");
  std::printf("\n");
  for (const auto& inst : doc["instances"]) {
    std::printf("%5lld %9.4g %4d %4d %11.5g %9.4g %9.4g %5d %9.4g", inst["index"].get<long long>(),
                num(inst["density"]), inst["importance_index"].get<int>(), inst["restart"].get<int>(),
                num(inst["loss"]), num(inst["frobenius_sq"]), num(inst["dims_per_feature"]),
                inst["represented"].get<int>(), mean_represented(inst, num(doc["represented_norm"])));
    if (linear) {
      const auto& t = inst["loss_decomposition"];
      std::printf(" %11.5g %11.5g %11.5g", num(t["feature_benefit"]), num(t["interference"]), num(t["bias"]));
    } else if (inst.contains("loss_decomposition")) {
      std::printf(" %11.5g", num(inst["loss_decomposition"]["one_sparse_loss"]));
    }
    std::printf("\n");
  }
  if (f.features) {
    for (const auto& inst : doc["instances"]) {
      std::printf(
          "\ninstance %lld (density %.4g; features numbered from 0, I_i = base^i):\n%7s %9s %9s %9s %9s\n",
          inst["index"].get<long long>(), num(inst["density"]), "feature", "|W_i|", "b_i", "sup_i", "D_i");
      for (std::size_t i = 0; i < inst["norms"].size(); ++i)
        std::printf("%7zu %9.4f %9.4f %9.4f %9.4f\n", i, num(inst["norms"][i]), num(inst["bias"][i]),
                    num(inst["superposition"][i]), num(inst["dimensionality"][i]));
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
