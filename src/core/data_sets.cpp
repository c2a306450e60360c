#include "core/data_sets.hpp"

#include "core/errors.hpp"
#include "core/kernels/philox_simd.hpp"

namespace tms {

void set_sampler::reserve(int B_, int n_, int set_size, bool anti, bool signed_v) {
  B = B_, n = n_, k = set_size, sets = n_ / set_size;
  anticorrelated = anti, signed_values = signed_v;
  presence.assign(static_cast<std::size_t>(sets) * B, 0);
  values.assign(static_cast<std::size_t>(n) * B, 0);
  choices.assign(anti ? static_cast<std::size_t>(sets) * B : 0, 0);
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
  method = choose_sampling(q, sets);
  threshold = bernoulli_threshold(q);
  table = method == sampling_method::binomial ? binomial_thresholds(sets, q) : std::vector<std::uint64_t>{};
}

namespace {

// The feature of an anticorrelated set of k that word u picks.
inline int chosen(std::uint32_t u, int k) {
  return static_cast<int>((static_cast<std::uint64_t>(u) * static_cast<std::uint32_t>(k)) >> 32);
}

}  // namespace

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
    kernels::philox_fill(sp.presence.data(), static_cast<std::size_t>(sets) * B, seed, c0,
                         rng_tag::set_presence);
    kernels::philox_fill(sp.values.data(), static_cast<std::size_t>(sp.n) * B, seed, c0, rng_tag::set_values);
    if (sp.anticorrelated)
      kernels::philox_fill(sp.choices.data(), static_cast<std::size_t>(sets) * B, seed, c0,
                           rng_tag::set_choices);
    for (int s = 0; s < B; ++s) {
      out.offset[s] = nnz;
      for (int j = 0; j < sets; ++j) {
        const std::size_t js = static_cast<std::size_t>(j) * B + s;
        if (!always && sp.presence[js] >= threshold) continue;
        if (sp.anticorrelated) {
          const int i = j * k + chosen(sp.choices[js], k);
          out.index[nnz] = i;
          out.value[nnz++] = value(sp.values[static_cast<std::size_t>(i) * B + s]);
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
