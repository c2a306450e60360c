// Bulk Philox4x32-10 words, computed 16 blocks at a time in SIMD lanes (AVX-512 or AVX2, chosen once at run
// time, with a portable scalar path). Every path returns the same words, defined by philox_word() below.
//
// Word order: the stream is cut into groups of 16 Philox blocks; group g holds blocks 16g .. 16g+15 and its
// 64 words are stored word-major, [w0 of the 16 blocks][w1 ...][w2 ...][w3 ...], so that SIMD lanes store
// straight to memory without a transpose.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kernels/isa.hpp"
#include "core/rng.hpp"

namespace tms::kernels {

// Word e of the stream (seed, c0, tag): the reference definition the SIMD paths are tested against.
inline std::uint32_t philox_word(std::uint64_t seed, std::uint32_t c0, rng_tag tag, std::uint64_t e) {
  const std::uint64_t block = ((e >> 6) << 4) | (e & 15);
  const auto u =
      philox(seed)(c0, static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), tag);
  return u[(e >> 4) & 3];
}

// out[e] = philox_word(seed, c0, tag, first + e) for e in [0, count); `first` is a multiple of 128.
void philox_fill(std::uint32_t* out, std::size_t count, std::uint64_t seed, std::uint32_t c0, rng_tag tag,
                 std::uint64_t first = 0);

// Which path philox_fill uses on this machine: "avx512", "avx2" or "scalar".
const char* philox_isa();

// philox_fill through a named path, for tests; returns false when this machine cannot run it.
bool philox_fill_isa(const char* isa, std::uint32_t* out, std::size_t count, std::uint64_t seed,
                     std::uint32_t c0, rng_tag tag);

// philox_fill through the path a machine of level `which` takes (avx512: the AVX-512 path, avx2: AVX2,
// baseline: scalar; isa::machine: philox_fill itself), for a sampler whose clones a test forced (the caller
// checks isa_supported). The words are the same on every path.
void philox_fill_as(isa which, std::uint32_t* out, std::size_t count, std::uint64_t seed, std::uint32_t c0,
                    rng_tag tag, std::uint64_t first = 0);

}  // namespace tms::kernels
