// The paper's synthetic data (section "Demonstrating Superposition"): feature x_i is 0 with probability S and
// otherwise uniform on [0, 1); the density p = 1 - S is set per instance. A fresh batch every step.
//
// The stream of a batch (seed, step) is defined here, once, for every consumer. Let c0 = step + 1 and
// A = philox_fill(seed, c0, tag) (kernels/philox_simd.hpp).
//  * Bernoulli method: word e = i B + s of A (tag bernoulli) decides x_si: active iff u < p_i 2^32, and then
//    x_si = bernoulli_value(u), uniform on [0, 1) (given u < p 2^32, u is uniform below the threshold, so one
//    32-bit word gives both the coin and the value).
//  * Binomial method (sparse features): word s of A (tag binomial) gives sample s's number of active
//  features,
//    c ~ Binomial(n, p), by inverse CDF; if c > 0, the Philox blocks (seed; c0, s, j, tag binomial_draws),
//    j = 0, 1, ..., give 32-bit words used in order: for each active feature a position (uniform on [0, n),
//    Lemire's multiply-shift with rejection; a position already taken is rejected too) then its value.
//    A binomial count and a uniform subset of that size is exactly n independent Bernoulli(p) coins.
// Which method applies depends only on (p, n), never on threads or the instruction set.
// Signed values (value_distribution::signed_uniform): an active feature's value is 2 v - 1, uniform on
// [-1, 1), with v its uniform value above (the same coins and words). Only the reference sampler draws them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/kernels/isa.hpp"
#include "core/rng.hpp"

namespace tms {

enum class sampling_method { bernoulli, binomial };

// The density of feature i of an instance of density p with per-feature multipliers `relative` (paper E10;
// empty: every feature has p): min(1, p relative[i]). The one definition the sampler and the measurements
// read.
inline double feature_density(double p, const std::vector<double>& relative, int i) {
  return relative.empty() ? p : std::min(1.0, p * relative[i]);
}

// The cheaper method for (p, n): Bernoulli costs one SIMD word per feature; binomial one SIMD word per sample
// plus, per active feature, two words and the scalar work of placing it. Measured with AVX-512 (n = 2 ...
// 1000): a sample costs about 3 Bernoulli words and an active feature about 16, so binomial wins iff 3 + 16 n
// p < n.
sampling_method choose_sampling(double density, int n);
// The method a batch_sampler uses: per-feature densities (relative multipliers) always draw Bernoulli
// batches.
inline sampling_method choose_sampling(double density, int n, bool per_feature) {
  return per_feature ? sampling_method::bernoulli : choose_sampling(density, n);
}

// Inverse-CDF thresholds of Binomial(n, p) on a 32-bit word: c = the first k with u < table[k]. The table
// ends where the CDF reaches 1 at 32-bit resolution (its last entry is 2^32).
std::vector<std::uint64_t> binomial_thresholds(int n, double density);
// The first k with u < table[k] (the last entry, 2^32, ends the scan). A linear scan: where this method is
// chosen the count is small, and a few well-predicted steps cost less than a binary search's mispredicted
// ones.
inline int binomial_count(std::uint32_t u, const std::vector<std::uint64_t>& table) {
  int k = 0;
  while (u >= table[k]) ++k;
  return k;
}

// Bernoulli method: the threshold on the 32-bit word (33 bits, so that p = 1 is always active) ...
inline std::uint64_t bernoulli_threshold(double density) {
  return static_cast<std::uint64_t>(std::ldexp(density, 32));
}
// ... and the value of an active word: u / (p 2^32) on a 24-bit grid, kept below 1.
inline float bernoulli_scale(double density) {
  return static_cast<float>(0x1.0p-24 / density);
}
inline float bernoulli_value(std::uint32_t u, float scale) {
  const float v = static_cast<float>(u >> 8) * scale;
  return v < 0x1.fffffep-1f ? v : 0x1.fffffep-1f;
}

// One instance's set-sampler state; sized once (reserve), reused every batch.
struct set_sampler {
  int B = 0, n = 0, k = 2, sets = 0;
  bool anticorrelated = false;
  bool signed_values = false;
  double q = -1;  // the activation probability the tables below are for
  sampling_method method = sampling_method::bernoulli;
  std::uint64_t threshold = 0;          // Bernoulli threshold of q (33 bits)
  std::vector<std::uint64_t> table;     // binomial thresholds over the sets
  std::vector<std::uint32_t> presence;  // [sets][B] (bernoulli) or [B] counts (binomial)
  std::vector<std::uint32_t> values;    // [n][B] (correlated) or [sets][B] (anticorrelated), bernoulli
  double pick_scale = 0;                // k / min(threshold, 2^32): an active presence word's feature
  std::vector<int> picked;              // [sets] the active sets of a sample (binomial)
  std::vector<float> picked_value;      // [sets] their first value words' values
  std::vector<std::uint64_t> taken;     // [ceil(sets / 64)] bitmap (binomial)
  // Compressed-row scratch for the tiled layout, which is filled from rows.
  std::vector<int> row_offset, row_index;
  std::vector<float> row_value;

  void reserve(int B, int n, int set_size, bool anticorrelated, bool signed_values);
  void set_activation(double q);  // recomputes the method and tables when q changes
};

// Per-instance sampler state: the method, the binomial table and scratch words. Sized once.
struct batch_sampler {
  int B = 0;
  int n = 0;
  double density = -1;
  sampling_method method = sampling_method::bernoulli;
  std::vector<std::uint64_t> table;       // binomial thresholds
  bool signed_values = false;             // values 2 v - 1 on [-1, 1) (sample_sparse_batch only)
  std::vector<double> relative;           // [n] per-feature density multipliers; empty: all 1
  std::vector<std::uint64_t> thresholds;  // [n] Bernoulli thresholds of each feature
  std::vector<float> scales;              // [n] Bernoulli value scales of each feature
  std::vector<std::uint32_t> words;       // [B n] (Bernoulli) or [B] (binomial)
  std::vector<int> picked;                // [n] positions of the current sample (binomial)
  std::vector<std::uint64_t> taken;       // [ceil(n / 64)] bitmap of picked positions (binomial)
  // Instances of one stream draw the same Bernoulli words each step (only their thresholds differ). With
  // keep_words set (the trainer's lock-step groups), a step's words stay in `words`, and every later batch
  // of the same seed and step converts them without generating them again; unset, generation is fused with
  // the conversion and the B n words never go through memory.
  bool keep_words = false;
  std::uint64_t words_seed = 0;
  std::int64_t words_step = -1;  // the step whose Bernoulli words are in `words`; -1: none
  // Test hooks, unset in every run: the instruction-set level whose clones (and Philox path) sample_tiled
  // uses instead of this machine's best (see kernels/isa.hpp; the caller checks isa_supported), and a
  // sampling method that replaces choose_sampling's (set through force_method).
  kernels::isa forced_isa = kernels::isa::machine;
  bool method_forced = false;
  sampling_method forced_method = sampling_method::bernoulli;
  // Sets of features (data_sets.hpp): sized by a set source only.
  set_sampler sets;

  void reserve(int B_, int n_) {
    B = B_;
    n = n_;
    words.assign(static_cast<std::size_t>(B_) * n_, 0);
    picked.assign(n_, 0);
    taken.assign((n_ + 63) / 64, 0);
    density = -1;
    words_step = -1;
  }
  void set_density(double density);  // recomputes the method and table when the density changes
  // Feature i gets density min(1, density x relative[i]) (paper E10: one feature's density varied).
  // Non-uniform densities always use the Bernoulli method.
  void set_relative(const std::vector<double>& relative_density) {
    relative = relative_density;
    density = -1;
  }
  // For the statistical tests of each method at any density: the binomial method with uniform densities
  // only (per-feature densities always draw Bernoulli batches).
  void force_method(sampling_method m) {
    method_forced = true;
    forced_method = m;
    density = -1;
  }
};

// The words of one stream in order, generated 1024 at a time by the SIMD Philox.
class word_stream {
 public:
  word_stream(std::uint64_t seed, std::uint32_t c0, rng_tag tag) : seed_(seed), c0_(c0), tag_(tag) {}
  std::uint32_t next() {
    if (pos_ == chunk) refill();
    return buffer_[pos_++];
  }

 private:
  static constexpr int chunk = 1024;  // a multiple of 128 words
  void refill();
  std::uint64_t seed_;
  std::uint32_t c0_;
  rng_tag tag_;
  std::uint64_t base_ = 0;  // stream position of the next refill
  int pos_ = chunk;
  std::uint32_t buffer_[chunk];
};

// Binomial method, one sample: emits (feature, value) for its `count` active features, in draw order, from
// the next words of `draws`. `picked` holds at least `count` ints; `taken` is a zeroed bitmap of n bits, left
// zeroed.
template <class Emit>
void binomial_sample(word_stream& draws, int n, int count, int* picked, std::uint64_t* taken, Emit&& emit);

// One instance's batch in compressed rows: sample b's active features are index[offset[b] .. offset[b+1]),
// ascending. The reference layout (tests, the double-precision model path).
template <class T>
struct sparse_batch {
  int B = 0;
  int n = 0;
  std::vector<int> offset;  // [B + 1]
  std::vector<int> index;   // [capacity B n], the first offset[B] are used
  std::vector<T> value;     // [capacity B n]
  batch_sampler sampler;

  void reserve(int B_, int n_) {
    B = B_;
    n = n_;
    offset.assign(B_ + 1, 0);
    index.assign(static_cast<std::size_t>(B_) * n_, 0);
    value.assign(static_cast<std::size_t>(B_) * n_, T(0));
    sampler.reserve(B_, n_);
  }
  int nnz() const { return offset[B]; }
};

// The reference sampler: fills `out` (reserved for B x n) with the batch of `step` of the stream `seed`.
void sample_sparse_batch(sparse_batch<float>& out, std::uint64_t seed, std::int64_t step, double density);

// The same batch in the fast kernels' tiled layout: tile t (samples 16t .. 16t+15) of feature i is the 16
// floats at X + (t n + i) 16; tile_nz[i tiles + t] = 1 when it has a non-zero. `written` keeps the entries
// set by the previous call, so only those are cleared (reserve B n + 1; -1 first means all). Padding samples
// s >= B stay 0. Returns the count of non-zeros.
std::int64_t sample_tiled(float* X, std::uint8_t* tile_nz, std::vector<std::int64_t>& written,
                          batch_sampler& sampler, std::uint64_t seed, std::int64_t step, double density);

}  // namespace tms

#include "core/data_sparse_impl.hpp"
