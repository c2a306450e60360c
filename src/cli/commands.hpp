// The subcommands of the tms program, one file each. A command registers its options on the root app and
// returns the function that runs it; main() is the only place that catches and turns errors into exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace tms::cli {

struct command {
  CLI::App* app = nullptr;
  std::function<void()> run;
};

command add_train_command(CLI::App& root);
command add_analyze_command(CLI::App& root);
command add_merge_command(CLI::App& root);

}  // namespace tms::cli
