// The paper's synthetic data (section "Demonstrating Superposition"): feature x_i is 0 with probability S and
// otherwise uniform on [0, 1); the density 1 - S is set per instance. A fresh batch every step.
//
// Batches are stored sparse (compressed rows), because at the densities of interest almost every x_i is 0 and
// both the forward h = W x and the backward only need the active features.
#pragma once

#include <cstdint>
#include <vector>

namespace tms {

// One instance's batch: sample b's active features are index[offset[b] .. offset[b+1]), ascending.
template <class T>
struct sparse_batch {
  int B = 0;
  int n = 0;
  std::vector<int> offset;  // [B + 1]
  std::vector<int> index;   // [capacity B n], the first offset[B] are used
  std::vector<T> value;     // [capacity B n]

  void reserve(int B_, int n_) {
    B = B_;
    n = n_;
    offset.assign(B_ + 1, 0);
    index.assign(static_cast<std::size_t>(B_) * n_, 0);
    value.assign(static_cast<std::size_t>(B_) * n_, T(0));
  }
  int nnz() const { return offset[B]; }
};

// Below this density the generator draws the gaps between active features (geometric skips, one log per
// active feature); at or above it, one integer compare per feature. Both give exactly the same distribution;
// the choice depends only on the density, so it never depends on threads.
inline constexpr double geometric_below = 0.25;

// Fills `out` (already reserved for B x n) with the batch of `step` from the stream keyed by `seed`.
// Allocation-free.
void sample_sparse_batch(sparse_batch<float>& out, std::uint64_t seed, std::int64_t step, double density);

}  // namespace tms
