// The tms command line as a function, so that the program (main.cpp) and the Python package's `tms` command
// run the same code.
#pragma once

namespace tms::cli {

// Parses argv (argv[0] is the program name) and runs the subcommand. Returns the exit status: 0 success,
// 2 usage error, 1 run-time failure, 130 interrupted. Errors are printed as one line on stderr.
// `also` names subcommands another front door handles before calling this (the Python package's
// "reproduce"), for the message about an unknown subcommand.
int cli_main(int argc, const char* const* argv, const char* also = nullptr);

}  // namespace tms::cli
