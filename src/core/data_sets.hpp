// Sets of features (paper E11-E13, E15): set j holds the features [j k, (j + 1) k) (k = set_size, n / k
// sets). Each sample draws, once per set, whether the set is active (probability q, config.hpp's
// set_activation); an active correlated set gives each of its features its own value, an active
// anticorrelated set gives one of its features, chosen uniformly, a value; every other feature is 0. Values
// are uniform on [0, 1) (uniform_float), or 2 v - 1 on [-1, 1) when signed, as for independent features.
//
// Two methods, chosen as for independent features by choose_sampling over the sets (q, n / k):
//  * bernoulli: one presence word per (set, sample), one value word per (feature, sample) and, for
//    anticorrelated sets, one choice word per (set, sample), all generated in bulk;
//  * binomial: per sample, how many sets are active (the binomial table over the sets), which ones
//    (binomial_sample) and their values from one word stream: a few words per non-zero.
// An anticorrelated set's feature is floor(u k / 2^32) of a word u: uniform up to k 2^-32.
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

}  // namespace tms
