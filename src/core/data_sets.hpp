// Sets of features (paper E11-E13, E15): set j holds the features [j k, (j + 1) k) (k = set_size, n / k
// sets). Each sample draws, once per set, whether the set is active (probability q, config.hpp's
// set_activation); an active correlated set gives each of its features its own value, an active
// anticorrelated set gives one of its features, chosen uniformly, a value; every other feature is 0. Values
// are uniform on [0, 1) (uniform_float), or 2 v - 1 on [-1, 1) when signed, as for independent features.
//
// Two methods, chosen by choose_sampling's cost model over the sets (set_sampler::set_activation):
//  * bernoulli: one presence word u per (set, sample), active when u < T (the Bernoulli threshold of q), and
//    one value word per (feature, sample), or for anticorrelated sets per (set, sample), all generated in
//    bulk; an active anticorrelated set's feature is floor(u k / T) of its presence word (u is uniform on
//    [0, T): uniform up to k / T);
//  * binomial: per sample, how many sets are active (the binomial table over the sets), which ones
//    (binomial_sample) and their values from one word stream: a few words per non-zero; an anticorrelated
//    set's feature is floor(u k / 2^32) of the stream's next word u (uniform up to k 2^-32).
#pragma once

#include <cstdint>
#include <vector>

#include "core/data_sparse.hpp"

namespace tms {

// The sampler state (set_sampler) lives in data_sparse.hpp, inside batch_sampler, beside the independent
// features' state.

// Compressed rows written by a set source: sample s's entries are [offset[s], offset[s + 1]), ascending
// features; offset has B + 1 slots, index and value B n.
struct entry_rows {
  int* offset;
  int* index;
  float* value;
};

// Fills `out` with the batch of `step` of the stream `seed` for sets active with probability q; returns the
// number of entries (offset[B]).
int sample_sets(set_sampler& sp, entry_rows out, std::uint64_t seed, std::int64_t step, double q);

// The same batch straight into the fast kernels' tiles when q takes the Bernoulli method: tile t of feature i
// is the 16 floats at X + (t n + i) 16 (every one written, padding samples 0) and x_nz[i tiles + t] says
// whether it has a non-zero. Returns the number of non-zeros, or -1 (nothing written) under the binomial
// method, whose batch the caller places from sample_sets' rows.
std::int64_t sample_sets_tiled(set_sampler& sp, float* X, std::uint8_t* x_nz, std::uint64_t seed,
                               std::int64_t step, double q);

}  // namespace tms
