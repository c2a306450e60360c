// Counter-based random numbers (Philox4x32-10 from Random123). A draw is a pure function of
// (seed, counter), so any thread can compute any instance's numbers and a run is bit-identical whatever the
// thread count. Counter words: [0] step + 1 (0 for initialisation), [1] sample, [2] block, [3] stream tag.
#pragma once

#include <Random123/philox.h>

#include <array>
#include <cmath>
#include <cstdint>

namespace tms {

enum class rng_tag : std::uint32_t {
  bernoulli = 0,
  binomial = 1,
  init = 2,
  binomial_draws = 3,
  evaluation = 4,
  // Sets of features (data_sets.hpp)
  set_presence = 5,
  set_values = 6,
  set_counts = 8,
  set_draws = 9,
  // Adversarial training (attack.hpp): each sample's attacked feature
  attack_feature = 10,
  // Sparse autoencoders (sae_config.hpp, sae_trainer.hpp): initial weights, resampled latents
  sae_init = 11,
  sae_resample = 12
};

class philox {
 public:
  explicit philox(std::uint64_t seed)
      : key_{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}} {}

  std::array<std::uint32_t, 4> operator()(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                          rng_tag tag) const {
    r123::Philox4x32::ctr_type ctr = {{c0, c1, c2, static_cast<std::uint32_t>(tag)}};
    auto out = r123::Philox4x32()(ctr, key_);
    return {out[0], out[1], out[2], out[3]};
  }

 private:
  r123::Philox4x32::key_type key_;
};

// Uniform on [0, 1) with 24 random bits: every value is an exact float.
inline float uniform_float(std::uint32_t u) {
  return static_cast<float>(u >> 8) * 0x1.0p-24f;
}

// Uniform on (0, 1] in double, for logarithms.
inline double uniform_open0(std::uint32_t u) {
  return (static_cast<double>(u) + 1.0) * 0x1.0p-32;
}

// Two standard normals from two uniforms (Box-Muller).
inline std::array<double, 2> box_muller(std::uint32_t u1, std::uint32_t u2) {
  double r = std::sqrt(-2.0 * std::log(uniform_open0(u1)));
  double theta = 6.283185307179586 * (static_cast<double>(u2) * 0x1.0p-32);
  return {r * std::cos(theta), r * std::sin(theta)};
}

}  // namespace tms
