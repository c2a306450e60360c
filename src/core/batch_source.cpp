#include "core/batch_source.hpp"

#include "core/errors.hpp"

namespace tms {

batch_source::batch_source(const train_config& config)
    : relative_(config.relative_density), values_(config.values) {}

void batch_source::prepare(sparse_batch<float>& rows) const {
  rows.sampler.set_relative(relative_);
  rows.sampler.signed_values = values_ == value_distribution::signed_uniform;
}

void batch_source::prepare(kernels::tied_fast_workspace& tiles) const {
  if (!fills_tiles()) throw run_error("batch_source: signed values have no tiled layout");
  tiles.sampler.set_relative(relative_);
}

void batch_source::fill(sparse_batch<float>& rows, std::uint64_t seed, std::int64_t step,
                        double density) const {
  sample_sparse_batch(rows, seed, step, density);
}

void batch_source::fill(kernels::tied_fast_workspace& ws, std::uint64_t seed, std::int64_t step,
                        double density) const {
  ws.last_nnz = sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, seed, step, density);
  // The binomial method lists each non-zero's position as it places it, sample after sample; a Bernoulli
  // batch writes every entry (written = {-1}).
  ws.x_listed = !(ws.written.size() == 1 && ws.written[0] < 0);
}

}  // namespace tms
