#include "core/data_sparse.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/errors.hpp"
#include "core/kernels/philox_simd.hpp"

// The tile loops below are always-inline bodies compiled for each instruction-set level (kernels::clones);
// the level is the machine's best, chosen once, unless a test forced another (batch_sampler::forced_isa).
#define TMS_INLINE inline __attribute__((always_inline))

namespace tms {

sampling_method choose_sampling(double density, int n) {
  return 3.0 + 16.0 * density * n < n ? sampling_method::binomial : sampling_method::bernoulli;
}

void word_stream::refill() {
  kernels::philox_fill(buffer_, chunk, seed_, c0_, tag_, base_);
  base_ += chunk;
  pos_ = 0;
}

std::vector<std::uint64_t> binomial_thresholds(int n, double density) {
  std::vector<std::uint64_t> table;
  const double log_p = std::log(density), log_q = std::log1p(-density);
  const double lg_n = std::lgamma(n + 1.0);
  double cdf = 0;
  for (int k = 0; k <= n; ++k) {
    cdf += std::exp(lg_n - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + k * log_p + (n - k) * log_q);
    const double t = std::floor(std::ldexp(cdf, 32));
    if (t >= 0x1.0p32 || k == n) {
      table.push_back(std::uint64_t{1} << 32);
      break;
    }
    table.push_back(static_cast<std::uint64_t>(t));
  }
  return table;
}

void batch_sampler::set_density(double d) {
  if (d == density) return;
  density = d;
  method = method_forced && relative.empty() ? forced_method : choose_sampling(d, n, !relative.empty());
  table = method == sampling_method::binomial ? binomial_thresholds(n, d) : std::vector<std::uint64_t>{};
  thresholds.assign(n, 0);
  scales.assign(n, 0.0f);
  for (int i = 0; i < n; ++i) {
    const double p = feature_density(d, relative, i);
    thresholds[i] = bernoulli_threshold(p);
    scales[i] = bernoulli_scale(p);
  }
}

void sample_sparse_batch(sparse_batch<float>& out, std::uint64_t seed, std::int64_t step, double density) {
  const int B = out.B, n = out.n;
  batch_sampler& sp = out.sampler;
  sp.set_density(density);
  const auto c0 = static_cast<std::uint32_t>(step + 1);  // counter word 0 is reserved (0 = initialisation)
  int nnz = 0;
  if (sp.method == sampling_method::bernoulli) {
    kernels::philox_fill(sp.words.data(), static_cast<std::size_t>(B) * n, seed, c0, rng_tag::bernoulli);
    sp.words_step = -1;  // this sampler does not keep words across calls
    for (int s = 0; s < B; ++s) {
      out.offset[s] = nnz;
      for (int i = 0; i < n; ++i) {
        const std::uint32_t u = sp.words[static_cast<std::size_t>(i) * B + s];
        if (u < sp.thresholds[i]) {
          out.index[nnz] = i;
          out.value[nnz] = bernoulli_value(u, sp.scales[i]);
          ++nnz;
        }
      }
    }
  } else {
    kernels::philox_fill(sp.words.data(), B, seed, c0, rng_tag::binomial);
    sp.words_step = -1;
    word_stream draws(seed, c0, rng_tag::binomial_draws);
    for (int s = 0; s < B; ++s) {
      out.offset[s] = nnz;
      const int count = binomial_count(sp.words[s], sp.table);
      binomial_sample(draws, n, count, sp.picked.data(), sp.taken.data(), [&](int i, float v) {
        out.index[nnz] = i;
        out.value[nnz] = v;
        ++nnz;
      });
      // Ascending features within a sample (the draw order is random); insertion sort in place, so the
      // sampler stays allocation-free (a sample has few active features).
      for (int e = out.offset[s] + 1; e < nnz; ++e) {
        const int i = out.index[e];
        const float v = out.value[e];
        int f = e;
        for (; f > out.offset[s] && out.index[f - 1] > i; --f)
          out.index[f] = out.index[f - 1], out.value[f] = out.value[f - 1];
        out.index[f] = i;
        out.value[f] = v;
      }
    }
  }
  out.offset[B] = nnz;
  if (sp.signed_values)
    for (int e = 0; e < nnz; ++e) out.value[e] = 2.0f * out.value[e] - 1.0f;
}

namespace {

typedef float v16f __attribute__((vector_size(64)));
typedef std::uint32_t v16u __attribute__((vector_size(64)));
typedef std::int32_t v16i __attribute__((vector_size(64)));

// 16 words of one feature -> its tile of values (0 where inactive) and the active lanes (-1, else 0),
// branch-free: the arithmetic of bernoulli_value, lane by lane. threshold: the feature's Bernoulli threshold
// (33 bits).
inline __attribute__((always_inline)) v16f bernoulli_vector(const std::uint32_t* words,
                                                            std::uint64_t threshold, float scale, v16i& on) {
  const v16f top = v16f{} + 0x1.fffffep-1f;
  v16u w;
  std::memcpy(&w, words, sizeof w);
  v16f v = __builtin_convertvector(w >> 8, v16f) * scale;
  v = v < top ? v : top;
  on = threshold > 0xffffffffu ? v16i{} - 1 : (v16i)(w < static_cast<std::uint32_t>(threshold));
  return (v16f)((v16i)v & on);
}

// Stores a full tile and sets its flag (any lane active); returns its count of active lanes. The lanes are
// narrowed to a 16-bit mask of bytes' sign bits (SSE2, so every clone has it).
inline __attribute__((always_inline)) int put_tile(float* x, std::uint8_t& flag, v16f v, v16i on) {
  std::memcpy(x, &v, sizeof v);
  typedef char v16c __attribute__((vector_size(16)));
  const v16c bytes = __builtin_convertvector(on, v16c);
  const auto mask = static_cast<unsigned>(_mm_movemask_epi8(reinterpret_cast<__m128i>(bytes)));
  flag = mask != 0;
  return __builtin_popcount(mask);
}

// Bernoulli method into tiles: 16 words of one feature -> one tile.
TMS_INLINE std::int64_t bernoulli_tiles(float* X, std::uint8_t* tile_nz, const std::uint32_t* words, int B,
                                        int n, const std::uint64_t* thresholds, const float* scales) {
  const int tiles = (B + 15) / 16, full = B / 16;
  std::int64_t nnz = 0;
  for (int i = 0; i < n; ++i) {
    const bool always = thresholds[i] > 0xffffffffu;
    const auto threshold = static_cast<std::uint32_t>(std::min<std::uint64_t>(thresholds[i], 0xffffffffu));
    const float scale = scales[i];
    const std::uint32_t* u = words + static_cast<std::size_t>(i) * B;
    std::uint8_t* nz = tile_nz + static_cast<std::size_t>(i) * tiles;
    for (int t = 0; t < full; ++t) {
      v16i on;
      const v16f v = bernoulli_vector(u + 16 * t, thresholds[i], scale, on);
      nnz += put_tile(X + (static_cast<std::size_t>(t) * n + i) * 16, nz[t], v, on);
    }
    for (int t = full; t < tiles; ++t) {  // the last, partial tile
      float* x = X + (static_cast<std::size_t>(t) * n + i) * 16;
      int count = 0;
      for (int l = 0; 16 * t + l < B; ++l) {
        const std::uint32_t w = u[16 * t + l];
        const bool on = always || w < threshold;
        x[l] = on ? bernoulli_value(w, scale) : 0.0f;
        count += on;
      }
      nz[t] = count > 0;
      nnz += count;
    }
  }
  return nnz;
}

// The same, fused with the generation for B a multiple of 16: 1024 words (4 KiB) at a time into an L1 buffer
// and straight into their tiles (word e = i B + s, and every run of 16 words is one tile of one feature), so
// the B n words never go through memory.
TMS_INLINE std::int64_t bernoulli_tiles_fused(float* X, std::uint8_t* tile_nz, int B, int n,
                                              const std::uint64_t* thresholds, const float* scales,
                                              std::uint64_t seed, std::uint32_t c0, kernels::isa which) {
  const int tiles = B / 16;
  const std::size_t total = static_cast<std::size_t>(B) * n, stride = static_cast<std::size_t>(n) * 16;
  constexpr std::size_t chunk = 1024;  // a multiple of philox_fill's 128
  alignas(64) std::uint32_t buffer[chunk];
  std::int64_t nnz = 0;
  int i = 0, t = 0;  // feature and tile of the next 16 words
  for (std::size_t first = 0; first < total; first += chunk) {
    const std::size_t count = std::min(chunk, total - first);
    kernels::philox_fill_as(which, buffer, count, seed, c0, rng_tag::bernoulli, first);
    const int vectors = static_cast<int>(count / 16);
    for (int q = 0; q < vectors;) {
      // The chunk's next run of vectors of feature i: tiles t, t + 1, ... (one stride apart in X).
      const int run = std::min(vectors - q, tiles - t);
      const std::uint64_t threshold = thresholds[i];
      const float scale = scales[i];
      float* x = X + (static_cast<std::size_t>(t) * n + i) * 16;
      std::uint8_t* nz = tile_nz + static_cast<std::size_t>(i) * tiles + t;
      const std::uint32_t* u = buffer + 16 * q;
      for (int r = 0; r < run; ++r, x += stride, u += 16) {
        v16i on;
        const v16f v = bernoulli_vector(u, threshold, scale, on);
        nnz += put_tile(x, nz[r], v, on);
      }
      q += run;
      t += run;
      if (t == tiles) t = 0, ++i;
    }
  }
  return nnz;
}

}  // namespace

std::int64_t sample_tiled(float* X, std::uint8_t* tile_nz, std::vector<std::int64_t>& written,
                          batch_sampler& sp, std::uint64_t seed, std::int64_t step, double density) {
  if (sp.signed_values)
    throw run_error(
        "sample_tiled: signed values are the batch source's (batch_source.hpp), not the sampler's");
  const int B = sp.B, n = sp.n, tiles = (B + 15) / 16;
  sp.set_density(density);
  const auto c0 = static_cast<std::uint32_t>(step + 1);
  const kernels::isa which = sp.forced_isa;
  if (sp.method == sampling_method::bernoulli) {
    written.assign(1, -1);  // every entry was written: the next binomial batch clears everything
    if (B % 16 == 0 && !sp.keep_words) {
      return kernels::clones<bernoulli_tiles_fused>::pick(which)(X, tile_nz, B, n, sp.thresholds.data(),
                                                                 sp.scales.data(), seed, c0, which);
    }
    if (!(sp.words_step == step && sp.words_seed == seed)) {
      kernels::philox_fill_as(which, sp.words.data(), static_cast<std::size_t>(B) * n, seed, c0,
                              rng_tag::bernoulli);
      sp.words_seed = seed;
      sp.words_step = step;
    }
    return kernels::clones<bernoulli_tiles>::pick(which)(X, tile_nz, sp.words.data(), B, n,
                                                         sp.thresholds.data(), sp.scales.data());
  }
  if (!written.empty() && written[0] < 0)
    std::memset(X, 0, sizeof(float) * 16 * static_cast<std::size_t>(tiles) * n);
  else
    for (std::int64_t at : written) X[at] = 0.0f;
  written.clear();
  std::memset(tile_nz, 0, static_cast<std::size_t>(n) * tiles);
  kernels::philox_fill(sp.words.data(), B, seed, c0, rng_tag::binomial);
  sp.words_step = -1;  // the binomial draw counts overwrote the start of `words`
  word_stream draws(seed, c0, rng_tag::binomial_draws);
  for (int s = 0; s < B; ++s) {
    const int count = binomial_count(sp.words[s], sp.table);
    if (count == 0) continue;
    const int t = s / 16, l = s % 16;
    binomial_sample(draws, n, count, sp.picked.data(), sp.taken.data(), [&](int i, float v) {
      const std::int64_t at = (static_cast<std::int64_t>(t) * n + i) * 16 + l;
      X[at] = v;
      written.push_back(at);
      tile_nz[static_cast<std::size_t>(i) * tiles + t] = 1;
    });
  }
  return static_cast<std::int64_t>(written.size());
}

}  // namespace tms
