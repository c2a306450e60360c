// tms: train and measure toy models of superposition. Exit status: 0 success, 2 usage error (bad flag, value,
// config file or folder), 1 run-time failure (e.g. a loss that turned NaN), 130 interrupted.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli/cli_main.hpp"
#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "core/version.hpp"

namespace tms::cli {

int cli_main(int argc, const char* const* argv, const char* also) {
  CLI::App app{"tms: a fast engine for toy models of superposition (Elhage et al., 2022)", "tms"};
  app.set_version_flag("--version", tms::version);
  app.require_subcommand(1);
  std::vector<tms::cli::command> commands = {add_train_command(app), add_analyze_command(app),
                                             add_merge_command(app)};
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const auto& cmd : commands) {
      known = known || cmd.app->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + cmd.app->get_name();
    }
    if (also) names += std::string(", ") + also;
    if (!known) {
      std::fprintf(stderr, "tms: error: unknown subcommand '%s'; allowed: %s (see tms --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tms: error: %s\n", e.what());
    return 2;
  }
  try {
    for (const auto& cmd : commands)
      if (cmd.app->parsed()) cmd.run();
    return 0;
  } catch (const tms::usage_error& e) {
    std::fprintf(stderr, "tms: error: %s\n", e.what());
    return 2;
  } catch (const tms::cancelled_error& e) {
    std::fprintf(stderr, "\ntms: interrupted; no run was written\n");
    return 130;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tms: error: out of memory; allowed: a run that fits in this machine's memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tms: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace tms::cli
