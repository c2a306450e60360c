// The seam between the data and the models: a batch source fills each step's batch in the layout the
// step's path reads, and the models and kernels read only the batch, never how it was drawn. A new
// distribution (correlated or anticorrelated features, ...) is a new source here, not a new kernel.
//
// The layouts (each sized once by its owner, refilled every step):
//  * rows: sparse_batch<float> (data_sparse.hpp), compressed rows, for the reference maths;
//  * tiles: the fast kernels' tiled X with its per-tile non-zero flags (tied_fast_workspace: X, x_nz), the
//    positions it set (`written`, so the next fill clears only those), whether those positions list every
//    non-zero sample after sample (`x_listed`: the entries the wide kernels then read directly), and the
//    count of non-zeros (`last_nnz`).
#pragma once

#include <cstdint>

#include "core/config.hpp"
#include "core/data_sets.hpp"
#include "core/data_sparse.hpp"
#include "core/kernels/tied_fast.hpp"

namespace tms {

// The config's data: independent features (data_sparse.hpp's stream: x_i = 0 with probability 1 - p_i, else
// its value, uniform or signed, p_i the instance's density times the feature's relative density, capped at
// 1), or sets of correlated or anticorrelated features (data_sets.hpp).
class batch_source {
 public:
  explicit batch_source(const train_config& config);
  data_kind data() const { return sets_.data; }

  // Sizes a layout's sampler state for this source (relative densities, values); once per workspace.
  void prepare(sparse_batch<float>& rows) const;
  void prepare(kernels::tied_fast_workspace& tiles) const;

  // The batch of step `step` of the stream `seed` for an instance of density `density`.
  void fill(sparse_batch<float>& rows, std::uint64_t seed, std::int64_t step, double density) const;
  void fill(kernels::tied_fast_workspace& tiles, std::uint64_t seed, std::int64_t step, double density) const;

 private:
  void fill_sets(entry_rows rows, batch_sampler& sampler, std::uint64_t seed, std::int64_t step,
                 double density) const;

  std::vector<double> relative_;
  value_distribution values_;
  train_config sets_;  // the data fields (data, set_size, density_of), read by set_activation
};

}  // namespace tms
