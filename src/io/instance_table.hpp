// instances.npz: a run's per-instance results as columns, each an array with the instance axis first ([K],
// [K][n] or [K][P], P the loss curve's points), declared once in the table below. The writer fills every
// column, the reader checks every column against it (names, dtypes, shapes, and the columns that identify an
// instance against the configuration), and NumPy or pandas open it as it is, one column at a time
// (np.load(path)["loss"]), so a sweep of a million instances stays a file a user can read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/trainer.hpp"
#include "io/npz.hpp"

namespace tms::io {

enum class column_width { instance, feature, curve };  // [K], [K][n], [K][P]

struct column_spec {
  std::string name;   // the key in np.load(...)
  std::string descr;  // '<f8', '<i8' or '<u8'
  column_width width;
  const char* meaning;
};

// The columns of a run of this configuration, in file order: which appear depends on the configuration only
// (a loss split for the kinds and data that have one, the set marginals for set data, E16's measurement when
// adversarial_samples > 0), never on the values.
std::vector<column_spec> instance_columns(const train_config& config);

// Every column of a trained run (the measurements computed here, from the weights: metrics.hpp, the loss
// split, the adversarial measurement).
std::vector<npy_array> instance_table(const train_config& config, const train_result& result);

// Checks the arrays read from `where` against the table for K instances with P curve points: every column
// there once with its dtype and shape, nothing else, and density, density_index, importance_index, restart
// and stream_seed equal to the configuration's instances. Throws usage_error naming `where` and the column.
void check_instance_table(const std::vector<npy_array>& arrays, const train_config& config, std::int64_t K,
                          std::int64_t P, const std::string& where);

// The bytes the table of a run holds (for the memory estimate).
std::int64_t instance_table_bytes(const train_config& config);

}  // namespace tms::io
