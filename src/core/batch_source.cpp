#include "core/batch_source.hpp"

#include <algorithm>
#include <cstdint>

#include "core/errors.hpp"

namespace tms {

batch_source::batch_source(const train_config& config)
    : relative_(config.relative_density), values_(config.values) {
  sets_.data = config.data;
  sets_.set_size = config.set_size;
  sets_.density_of = config.density_of;
}

void batch_source::prepare(sparse_batch<float>& rows) const {
  rows.sampler.set_relative(relative_);
  rows.sampler.signed_values = values_ == value_distribution::signed_uniform;
  if (sets_.data != data_kind::independent)
    rows.sampler.sets.reserve(rows.B, rows.n, sets_.set_size, sets_.data == data_kind::anticorrelated,
                              values_ == value_distribution::signed_uniform);
}

void batch_source::prepare(kernels::tied_fast_workspace& tiles) const {
  tiles.sampler.set_relative(relative_);
  if (sets_.data != data_kind::independent)
    tiles.sampler.sets.reserve(tiles.B, tiles.n, sets_.set_size, sets_.data == data_kind::anticorrelated,
                               values_ == value_distribution::signed_uniform);
}

void batch_source::fill_sets(entry_rows rows, batch_sampler& sampler, std::uint64_t seed, std::int64_t step,
                             double density) const {
  if (sampler.sets.B == 0) throw run_error("batch_source: a set source fills a layout it did not prepare");
  sample_sets(sampler.sets, rows, seed, step, set_activation(sets_, density));
}

void batch_source::fill(sparse_batch<float>& rows, std::uint64_t seed, std::int64_t step,
                        double density) const {
  switch (sets_.data) {
    case data_kind::independent:
      sample_sparse_batch(rows, seed, step, density);
      return;
    case data_kind::correlated:
    case data_kind::anticorrelated:
      fill_sets({rows.offset.data(), rows.index.data(), rows.value.data()}, rows.sampler, seed, step,
                density);
      return;
  }
}

void batch_source::fill(kernels::tied_fast_workspace& ws, std::uint64_t seed, std::int64_t step,
                        double density) const {
  if (sets_.data != data_kind::independent) {
    set_sampler& sp = ws.sampler.sets;
    if (sp.B == 0) throw run_error("batch_source: a set source fills a layout it did not prepare");
    // The Bernoulli method writes every tile; the binomial method's rows are placed entry by entry.
    const std::int64_t tiled =
        sample_sets_tiled(sp, ws.X.get(), ws.x_nz.data(), seed, step, set_activation(sets_, density));
    if (tiled >= 0) {
      ws.written.assign(1, -1);  // every entry written: the next fill that places rows clears all
      ws.x_listed = false;
      ws.last_nnz = tiled;
      return;
    }
    fill_sets({sp.row_offset.data(), sp.row_index.data(), sp.row_value.data()}, ws.sampler, seed, step,
              density);
    const int B = ws.B, n = ws.n, tiles = ws.tiles;
    float* X = ws.X.get();
    if (ws.written.size() == 1 && ws.written[0] < 0)
      std::fill_n(X, static_cast<std::size_t>(tiles) * n * 16, 0.0f);
    else
      for (std::int64_t at : ws.written) X[at] = 0.0f;
    std::fill(ws.x_nz.begin(), ws.x_nz.end(), std::uint8_t{0});
    ws.written.clear();
    for (int s = 0; s < B; ++s)
      for (int e = sp.row_offset[s]; e < sp.row_offset[s + 1]; ++e) {
        const int i = sp.row_index[e];
        const std::int64_t at = (static_cast<std::int64_t>(s / 16) * n + i) * 16 + s % 16;
        X[at] = sp.row_value[e];
        ws.x_nz[static_cast<std::size_t>(i) * tiles + s / 16] = 1;
        ws.written.push_back(at);
      }
    // The positions list every entry sample after sample, as the independent binomial method's do: the wide
    // kernels read them as entries.
    ws.x_listed = true;
    ws.last_nnz = sp.row_offset[B];
    return;
  }
  const bool signed_values = values_ == value_distribution::signed_uniform;
  const bool kept = ws.sampler.keep_words;
  // Signed values need to know which entries are active (a value 0 is active too): the Bernoulli words,
  // which the sampler keeps when asked.
  if (signed_values) ws.sampler.keep_words = true;
  ws.last_nnz = sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, seed, step, density);
  ws.sampler.keep_words = kept;
  // The binomial method lists each non-zero's position as it places it, sample after sample; a Bernoulli
  // batch writes every entry (written = {-1}).
  ws.x_listed = !(ws.written.size() == 1 && ws.written[0] < 0);
  if (!signed_values) return;
  // v -> 2 v - 1 on the active entries, as sample_sparse_batch does (the same float operations).
  float* X = ws.X.get();
  if (ws.x_listed) {
    for (std::int64_t at : ws.written) X[at] = 2.0f * X[at] - 1.0f;
    return;
  }
  const batch_sampler& sp = ws.sampler;
  const int B = sp.B, n = sp.n;
  for (int i = 0; i < n; ++i) {
    const bool always = sp.thresholds[i] > 0xffffffffu;
    const auto threshold = static_cast<std::uint32_t>(std::min<std::uint64_t>(sp.thresholds[i], 0xffffffffu));
    const std::uint32_t* u = sp.words.data() + static_cast<std::size_t>(i) * B;
    // Tile by tile: 16 consecutive samples of feature i are 16 consecutive words and 16 consecutive floats,
    // so the select vectorises.
    for (int t = 0; t * 16 < B; ++t) {
      float* x = X + (static_cast<std::size_t>(t) * n + i) * 16;
      const std::uint32_t* w = u + 16 * t;
      const int lanes = std::min(16, B - 16 * t);
      if (lanes == 16) {
        for (int l = 0; l < 16; ++l) x[l] = always || w[l] < threshold ? 2.0f * x[l] - 1.0f : x[l];
      } else {
        for (int l = 0; l < lanes; ++l) x[l] = always || w[l] < threshold ? 2.0f * x[l] - 1.0f : x[l];
      }
    }
  }
}

}  // namespace tms
