#include "core/data_sets.hpp"

#include <algorithm>
#include <cstring>

#include <immintrin.h>

#include "core/errors.hpp"
#include "core/kernels/philox_simd.hpp"

namespace tms {

void set_sampler::reserve(int B_, int n_, int set_size, bool anti, bool signed_v) {
  B = B_, n = n_, k = set_size, sets = n_ / set_size;
  anticorrelated = anti, signed_values = signed_v;
  presence.assign(static_cast<std::size_t>(sets) * B, 0);
  values.assign(static_cast<std::size_t>(anti ? sets : n) * B, 0);
  picked.assign(sets, 0);
  picked_value.assign(sets, 0.0f);
  taken.assign((sets + 63) / 64, 0);
  row_offset.assign(B + 1, 0);
  row_index.assign(static_cast<std::size_t>(B) * n, 0);
  row_value.assign(static_cast<std::size_t>(B) * n, 0.0f);
  q = -1;
}

void set_sampler::set_activation(double q_) {
  if (q_ == q) return;
  if (!(q_ > 0 && q_ <= 1)) throw run_error("set_sampler: activation probability outside (0, 1]");
  q = q_;
  // choose_sampling's cost model (a sample about 3 Bernoulli words, an active entry about 16) with a set's
  // Bernoulli words (presence and values: 1 + k correlated, 2 anticorrelated) and its entries (k, or 1).
  const int words = anticorrelated ? 2 : 1 + k, entries = anticorrelated ? 1 : k;
  method = 3.0 + 16.0 * q * sets * entries < static_cast<double>(words) * sets ? sampling_method::binomial
                                                                               : sampling_method::bernoulli;
  threshold = bernoulli_threshold(q);
  // An active presence word u is uniform on [0, T), T = min(threshold, 2^32): floor(u k / T) picks the
  // feature.
  pick_scale = static_cast<double>(k) / static_cast<double>(std::min<std::uint64_t>(threshold, 1ull << 32));
  table = method == sampling_method::binomial ? binomial_thresholds(sets, q) : std::vector<std::uint64_t>{};
}

namespace {

// The feature of an anticorrelated set of k that a uniform word u picks (binomial method): floor(u k / 2^32).
inline int chosen(std::uint32_t u, int k) {
  return static_cast<int>((static_cast<std::uint64_t>(u) * static_cast<std::uint32_t>(k)) >> 32);
}

// The feature an active presence word u picks (Bernoulli method): floor(u scale), scale = k / T. Exactly the
// floor of u k / T: the true quotient is at least 1 / (k T) >= 2^-36 (relative) from the next integer, the
// two roundings of double at most 2^-52.
inline int picked_by(std::uint32_t u, double scale) {
  return static_cast<int>(static_cast<double>(u) * scale);
}

// The Bernoulli method's words of one batch: presence [sets][B]; values [n][B] (correlated: one per feature)
// or [sets][B] (anticorrelated: one per set, for the feature its presence word picks).
void bernoulli_words(set_sampler& sp, std::uint64_t seed, std::uint32_t c0) {
  const std::size_t B = sp.B;
  kernels::philox_fill(sp.presence.data(), sp.sets * B, seed, c0, rng_tag::set_presence);
  kernels::philox_fill(sp.values.data(), (sp.anticorrelated ? sp.sets : sp.n) * B, seed, c0,
                       rng_tag::set_values);
}

}  // namespace

namespace {

typedef float v16f __attribute__((vector_size(64)));
typedef std::uint32_t v16u __attribute__((vector_size(64)));
typedef std::int32_t v16i __attribute__((vector_size(64)));

#define TMS_INLINE inline __attribute__((always_inline))

TMS_INLINE v16u load16(const std::uint32_t* p) {
  v16u w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Stores one tile, sets its flag, returns its non-zeros (the lane flags narrowed to bytes, then their signs).
TMS_INLINE int put_tile(float* x, std::uint8_t& flag, v16f v, v16i on) {
  const v16f kept = (v16f)((v16i)v & on);
  std::memcpy(x, &kept, sizeof kept);
  typedef char v16c __attribute__((vector_size(16)));
  const v16c bytes = __builtin_convertvector(on, v16c);
  const auto mask = static_cast<unsigned>(_mm_movemask_epi8(reinterpret_cast<__m128i>(bytes)));
  flag = mask != 0;
  return __builtin_popcount(mask);
}

// picked_by() on 16 words, in two 8-lane halves of doubles (the same operations, lane by lane).
TMS_INLINE v16i picked16(v16u u, double scale) {
  typedef double v8d __attribute__((vector_size(64)));
  typedef std::int32_t v8i __attribute__((vector_size(32)));
  const v8d lo = __builtin_convertvector(__builtin_shufflevector(u, u, 0, 1, 2, 3, 4, 5, 6, 7), v8d) * scale;
  const v8d hi =
      __builtin_convertvector(__builtin_shufflevector(u, u, 8, 9, 10, 11, 12, 13, 14, 15), v8d) * scale;
  const v8i a = __builtin_convertvector(lo, v8i), b = __builtin_convertvector(hi, v8i);
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// The Bernoulli method's batch into tiles (sample_sets_tiled), feature after feature: 16 presence, choice
// and value words of consecutive samples are 16 consecutive words of their rows.
TMS_INLINE std::int64_t set_tiles(float* X, std::uint8_t* x_nz, const std::uint32_t* presence,
                                  const std::uint32_t* values, bool anticorrelated, double pick_scale, int B,
                                  int n, int k, std::uint64_t threshold64, bool signed_values) {
  const int tiles = (B + 15) / 16, full = B / 16, sets = n / k;
  const bool always = threshold64 > 0xffffffffu;
  const auto threshold = static_cast<std::uint32_t>(always ? 0xffffffffu : threshold64);
  std::int64_t nnz = 0;
  for (int j = 0; j < sets; ++j)
    for (int f = 0; f < k; ++f) {
      const int i = j * k + f;
      const std::uint32_t *p = presence + static_cast<std::size_t>(j) * B,
                          *w = values + static_cast<std::size_t>(anticorrelated ? j : i) * B;
      std::uint8_t* nz = x_nz + static_cast<std::size_t>(i) * tiles;
      for (int t = 0; t < full; ++t) {
        const v16u u = load16(p + 16 * t);
        v16i on = always ? v16i{} - 1 : (v16i)(u < threshold);
        if (anticorrelated) on &= picked16(u, pick_scale) == f;
        v16f v = __builtin_convertvector(load16(w + 16 * t) >> 8, v16f) * 0x1.0p-24f;  // uniform_float
        if (signed_values) v = 2.0f * v - 1.0f;
        nnz += put_tile(X + (static_cast<std::size_t>(t) * n + i) * 16, nz[t], v, on);
      }
      for (int t = full; t < tiles; ++t) {  // the last, partial tile
        float* x = X + (static_cast<std::size_t>(t) * n + i) * 16;
        int count = 0;
        for (int l = 0; l < 16; ++l) {
          const int s = 16 * t + l;
          const bool on =
              s < B && (always || p[s] < threshold) && (!anticorrelated || picked_by(p[s], pick_scale) == f);
          const float v = s < B ? uniform_float(w[s]) : 0.0f;
          x[l] = on ? (signed_values ? 2.0f * v - 1.0f : v) : 0.0f;
          count += on;
        }
        nz[t] = count > 0;
        nnz += count;
      }
    }
  return nnz;
}

}  // namespace

std::int64_t sample_sets_tiled(set_sampler& sp, float* X, std::uint8_t* x_nz, std::uint64_t seed,
                               std::int64_t step, double q) {
  sp.set_activation(q);
  if (sp.method != sampling_method::bernoulli) return -1;
  bernoulli_words(sp, seed, static_cast<std::uint32_t>(step + 1));
  return kernels::clones<set_tiles>::pick(kernels::isa::machine)(
      X, x_nz, sp.presence.data(), sp.values.data(), sp.anticorrelated, sp.pick_scale, sp.B, sp.n, sp.k,
      sp.threshold, sp.signed_values);
}

int sample_sets(set_sampler& sp, entry_rows out, std::uint64_t seed, std::int64_t step, double q) {
  sp.set_activation(q);
  const int B = sp.B, k = sp.k, sets = sp.sets;
  const auto c0 = static_cast<std::uint32_t>(step + 1);  // counter word 0 is reserved (0 = initialisation)
  const bool always = sp.threshold > 0xffffffffu;
  const auto threshold = static_cast<std::uint32_t>(always ? 0xffffffffu : sp.threshold);
  auto value = [&](std::uint32_t u) {
    const float v = uniform_float(u);
    return sp.signed_values ? 2.0f * v - 1.0f : v;
  };
  int nnz = 0;
  if (sp.method == sampling_method::bernoulli) {
    bernoulli_words(sp, seed, c0);
    for (int s = 0; s < B; ++s) {
      out.offset[s] = nnz;
      for (int j = 0; j < sets; ++j) {
        const std::size_t js = static_cast<std::size_t>(j) * B + s;
        if (!always && sp.presence[js] >= threshold) continue;
        if (sp.anticorrelated) {
          out.index[nnz] = j * k + picked_by(sp.presence[js], sp.pick_scale);
          out.value[nnz++] = value(sp.values[js]);
        } else {
          for (int i = j * k; i < (j + 1) * k; ++i) {
            out.index[nnz] = i;
            out.value[nnz++] = value(sp.values[static_cast<std::size_t>(i) * B + s]);
          }
        }
      }
    }
  } else {
    kernels::philox_fill(sp.presence.data(), B, seed, c0, rng_tag::set_counts);
    word_stream draws(seed, c0, rng_tag::set_draws);
    for (int s = 0; s < B; ++s) {
      out.offset[s] = nnz;
      const int count = binomial_count(sp.presence[s], sp.table);
      int a = 0;
      binomial_sample(draws, sets, count, sp.picked.data(), sp.taken.data(), [&](int j, float v) {
        sp.picked_value[a++] = v;
        (void)j;
      });
      // Ascending sets (the draw order is random): insertion sort of the few picked, values alongside.
      for (int e = 1; e < count; ++e) {
        const int j = sp.picked[e];
        const float v = sp.picked_value[e];
        int f = e;
        for (; f > 0 && sp.picked[f - 1] > j; --f)
          sp.picked[f] = sp.picked[f - 1], sp.picked_value[f] = sp.picked_value[f - 1];
        sp.picked[f] = j, sp.picked_value[f] = v;
      }
      // Each active set's first value is its picking word's; the rest (correlated) or the choice
      // (anticorrelated) are the stream's next words, set after set.
      for (int e = 0; e < count; ++e) {
        const int j = sp.picked[e];
        const float first = sp.signed_values ? 2.0f * sp.picked_value[e] - 1.0f : sp.picked_value[e];
        if (sp.anticorrelated) {
          out.index[nnz] = j * k + chosen(draws.next(), k);
          out.value[nnz++] = first;
        } else {
          out.index[nnz] = j * k;
          out.value[nnz++] = first;
          for (int i = j * k + 1; i < (j + 1) * k; ++i) {
            out.index[nnz] = i;
            out.value[nnz++] = value(draws.next());
          }
        }
      }
    }
  }
  out.offset[B] = nnz;
  return nnz;
}

}  // namespace tms
