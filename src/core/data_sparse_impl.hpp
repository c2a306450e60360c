// Template part of data_sparse.hpp (the per-sample draws of the binomial method).
#pragma once

#include "core/rng.hpp"

namespace tms {

template <class Emit>
void binomial_sample(std::uint64_t seed, std::uint32_t c0, int s, int n, int count, int* picked,
                     Emit&& emit) {
  const philox rng(seed);
  std::uint32_t block = 0;
  std::array<std::uint32_t, 4> u{};
  int next = 4;  // next unused word of u
  auto word = [&]() {
    if (next == 4) u = rng(c0, static_cast<std::uint32_t>(s), block++, rng_tag::binomial_draws), next = 0;
    return u[next++];
  };
  const auto n32 = static_cast<std::uint32_t>(n);
  const std::uint32_t reject_below = (0u - n32) % n32;  // Lemire: 2^32 mod n
  for (int a = 0; a < count; ++a) {
    int position;
    while (true) {
      const std::uint64_t product = static_cast<std::uint64_t>(word()) * n32;
      if (static_cast<std::uint32_t>(product) < reject_below) continue;  // keeps positions exactly uniform
      position = static_cast<int>(product >> 32);
      bool taken = false;
      for (int b = 0; b < a; ++b) taken |= picked[b] == position;
      if (!taken) break;
    }
    picked[a] = position;
    emit(position, uniform_float(word()));
  }
}

}  // namespace tms
