// Exceptions thrown by the core. The core never prints or exits; the front doors (CLI, Python) translate
// these into one line and an exit status (2 for usage_error, 1 for run_error) or a Python exception.
#pragma once

#include <stdexcept>
#include <string>

namespace tms {

// Bad input from the user: a value outside its allowed range, an unknown name. Message form:
// "<field>: <what is wrong>; <what is allowed>".
struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A failure while running valid input: a loss that turns NaN, a file that cannot be written.
struct run_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The progress callback asked the trainer to stop.
struct cancelled_error : std::runtime_error {
  cancelled_error() : std::runtime_error("training cancelled") {}
};

}  // namespace tms
