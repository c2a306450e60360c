// tms merge OUT SHARD...: the run folders of a grid's shards joined into one run folder (run_merge.hpp).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "io/run_merge.hpp"

namespace tms::cli {
namespace {

struct merge_flags {
  std::string out;
  std::vector<std::string> shards;
  bool overwrite = false;
  bool quiet = false;
};

void run_merge(const merge_flags& f) {
  std::vector<std::filesystem::path> shards(f.shards.begin(), f.shards.end());
  // Claimed first, like a training run's folder: refused when in use or finished (unless --overwrite), and
  // a finished run there is replaced only once the merged one is written.
  io::run_dir_claim claim(f.out, f.overwrite);
  io::merge_runs(claim, shards);
  if (!f.quiet)
    std::printf("merged %zu shards into %s; see: tms analyze %s\n", shards.size(), f.out.c_str(),
                f.out.c_str());
}

}  // namespace

command add_merge_command(CLI::App& root) {
  auto flags = std::make_shared<merge_flags>();
  CLI::App* app = root.add_subcommand(
      "merge", "Join the run folders of a grid's shards (tms train --shard I/N) into one run folder");
  app->add_option("out", flags->out, "The merged run folder")->required();
  app->add_option("shards", flags->shards, "The shard folders, every shard 0/N ... N-1/N once (any order)")
      ->required();
  app->add_flag("--overwrite", flags->overwrite,
                "Replace a finished run in OUT once the merged one is written");
  app->add_flag("--quiet,-q", flags->quiet, "No message when done");
  return {app, [flags]() { run_merge(*flags); }};
}

}  // namespace tms::cli
