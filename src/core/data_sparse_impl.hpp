// Template part of data_sparse.hpp (the per-sample draws of the binomial method).
#pragma once

#include "core/rng.hpp"

namespace tms {

template <class Emit>
void binomial_sample(word_stream& draws, int n, int count, int* picked, std::uint64_t* taken, Emit&& emit) {
  const auto n32 = static_cast<std::uint32_t>(n);
  const std::uint32_t reject_below = (0u - n32) % n32;  // Lemire: 2^32 mod n
  for (int a = 0; a < count; ++a) {
    int position;
    while (true) {
      const std::uint64_t product = static_cast<std::uint64_t>(draws.next()) * n32;
      if (static_cast<std::uint32_t>(product) < reject_below) continue;  // keeps positions exactly uniform
      position = static_cast<int>(product >> 32);
      const std::uint64_t bit = std::uint64_t{1} << (position & 63);
      if (!(taken[position >> 6] & bit)) {
        taken[position >> 6] |= bit;
        break;
      }
    }
    picked[a] = position;
    emit(position, uniform_float(draws.next()));
  }
  for (int a = 0; a < count; ++a) taken[picked[a] >> 6] = 0;
}

}  // namespace tms
