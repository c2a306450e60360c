#include "core/kernels/philox_simd.hpp"

#include <immintrin.h>

#include <cstring>
#include <string_view>

namespace tms::kernels {
namespace {

constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // Philox4x32 multipliers
constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // Weyl key increments

// One group of 16 blocks (block numbers 16g .. 16g+15) into 64 words, scalar.
void group_scalar(std::uint32_t* out, std::uint64_t seed, std::uint32_t c0, rng_tag tag, std::uint64_t g) {
  const philox rng(seed);
  for (int l = 0; l < 16; ++l) {
    const std::uint64_t block = (g << 4) | static_cast<std::uint64_t>(l);
    const auto u = rng(c0, static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), tag);
    for (int w = 0; w < 4; ++w) out[16 * w + l] = u[w];
  }
}

// The SIMD paths keep each 32-bit Philox word in the low half of a 64-bit lane (8 blocks per AVX-512
// register, 4 per AVX2 register). Then one vpmuludq gives the full 64-bit product, its low half is already
// the next "lo" word (high halves of a lane are don't-care everywhere), one shift gives "hi", and the
// three-way xor is a single vpternlogd. Several independent blocks are in flight to hide the multiply
// latency.

// Blocks first .. first + 7 (block numbers below 2^32 + 8 never carry into the high counter word within a
// group, because groups start at multiples of 16).
__attribute__((target("avx512f"))) inline void rounds_avx512(__m512i (&x)[4][4], std::uint64_t seed) {
  const __m512i m0 = _mm512_set1_epi64(M0), m1 = _mm512_set1_epi64(M1);
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) k0 += W0, k1 += W1;
    const __m512i key0 = _mm512_set1_epi64(k0), key1 = _mm512_set1_epi64(k1);
    for (int c = 0; c < 4; ++c) {
      const __m512i p0 = _mm512_mul_epu32(x[c][0], m0), p1 = _mm512_mul_epu32(x[c][2], m1);
      // 0x96: a ^ b ^ c
      const __m512i y0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x[c][1], key0, 0x96);
      // The high half of p0 by a 32-bit swap within each lane (a shuffle, on another port than the shift
      // and the multiplies; the high halves of lanes are don't-care).
      const __m512i y2 =
          _mm512_ternarylogic_epi64(_mm512_shuffle_epi32(p0, _MM_PERM_CDAB), x[c][3], key1, 0x96);
      x[c][0] = y0;
      x[c][1] = p1;
      x[c][2] = y2;
      x[c][3] = p0;
    }
  }
}

// Two groups (g, g + 1) = 32 blocks = 4 chains of 8 blocks.
__attribute__((target("avx512f"))) void groups2_avx512(std::uint32_t* out, std::uint64_t seed,
                                                       std::uint32_t c0, rng_tag tag, std::uint64_t g) {
  __m512i x[4][4];
  const __m512i lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  for (int c = 0; c < 4; ++c) {
    const std::uint64_t first = (g << 4) + 8 * static_cast<std::uint64_t>(c);
    x[c][0] = _mm512_set1_epi64(c0);
    x[c][1] = _mm512_add_epi64(_mm512_set1_epi64(static_cast<std::uint32_t>(first)), lanes);
    x[c][2] = _mm512_set1_epi64(static_cast<std::uint32_t>(first >> 32));
    x[c][3] = _mm512_set1_epi64(static_cast<std::uint32_t>(tag));
  }
  rounds_avx512(x, seed);
  // Chains 2h and 2h + 1 hold the 16 blocks of group g + h: their low halves, interleaved into one register,
  // are word w of those 16 blocks, stored whole (one 512-bit store that a later 512-bit load can forward
  // from).
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 4; ++w)
      _mm512_storeu_si512(out + 64 * h + 16 * w,
                          _mm512_permutex2var_epi32(x[2 * h][w], evens, x[2 * h + 1][w]));
}

__attribute__((target("avx2"))) void groups2_avx2(std::uint32_t* out, std::uint64_t seed, std::uint32_t c0,
                                                  rng_tag tag, std::uint64_t g) {
  const __m256i m0 = _mm256_set1_epi64x(M0), m1 = _mm256_set1_epi64x(M1);
  const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
  __m256i x[8][4];
  for (int c = 0; c < 8; ++c) {
    const std::uint64_t first = (g << 4) + 4 * static_cast<std::uint64_t>(c);
    x[c][0] = _mm256_set1_epi64x(c0);
    x[c][1] = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<std::uint32_t>(first)), lanes);
    x[c][2] = _mm256_set1_epi64x(static_cast<std::uint32_t>(first >> 32));
    x[c][3] = _mm256_set1_epi64x(static_cast<std::uint32_t>(tag));
  }
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) k0 += W0, k1 += W1;
    const __m256i key0 = _mm256_set1_epi64x(k0), key1 = _mm256_set1_epi64x(k1);
    for (int c = 0; c < 8; ++c) {
      const __m256i p0 = _mm256_mul_epu32(x[c][0], m0), p1 = _mm256_mul_epu32(x[c][2], m1);
      const __m256i y0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x[c][1]), key0);
      const __m256i y2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_shuffle_epi32(p0, 0xB1), x[c][3]), key1);
      x[c][0] = y0;
      x[c][1] = p1;
      x[c][2] = y2;
      x[c][3] = p0;
    }
  }
  // Pack the low halves of four 64-bit lanes into four 32-bit words.
  const __m256i pack = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  for (int c = 0; c < 8; ++c) {
    std::uint32_t* o = out + 64 * (c / 4) + 4 * (c % 4);
    for (int w = 0; w < 4; ++w)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16 * w),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(x[c][w], pack)));
  }
}

void groups2_scalar(std::uint32_t* out, std::uint64_t seed, std::uint32_t c0, rng_tag tag, std::uint64_t g) {
  group_scalar(out, seed, c0, tag, g);
  group_scalar(out + 64, seed, c0, tag, g + 1);
}

using group_fn = void (*)(std::uint32_t*, std::uint64_t, std::uint32_t, rng_tag, std::uint64_t);

struct dispatch {
  group_fn fn;
  const char* name;
};

dispatch choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {groups2_avx512, "avx512"};
  if (__builtin_cpu_supports("avx2")) return {groups2_avx2, "avx2"};
  return {groups2_scalar, "scalar"};
}

const dispatch& chosen() {
  static const dispatch d = choose();  // chosen once, never per call
  return d;
}

}  // namespace

// group_fn computes two consecutive groups (128 words) at a time; `first` (a multiple of 128) is the stream
// position of out[0].
static void fill_with(group_fn fn, std::uint32_t* out, std::size_t count, std::uint64_t seed,
                      std::uint32_t c0, rng_tag tag, std::uint64_t first = 0) {
  const std::uint64_t g0 = first / 64;
  const std::size_t pairs = count / 128;
  for (std::size_t p = 0; p < pairs; ++p) fn(out + 128 * p, seed, c0, tag, g0 + 2 * p);
  if (count % 128) {
    std::uint32_t tail[128];
    fn(tail, seed, c0, tag, g0 + 2 * pairs);
    std::memcpy(out + 128 * pairs, tail, (count % 128) * sizeof(std::uint32_t));
  }
}

const char* philox_isa() {
  return chosen().name;
}

void philox_fill(std::uint32_t* out, std::size_t count, std::uint64_t seed, std::uint32_t c0, rng_tag tag,
                 std::uint64_t first) {
  fill_with(chosen().fn, out, count, seed, c0, tag, first);
}

bool philox_fill_isa(const char* isa, std::uint32_t* out, std::size_t count, std::uint64_t seed,
                     std::uint32_t c0, rng_tag tag) {
  const std::string_view name(isa);
  __builtin_cpu_init();
  group_fn fn = nullptr;
  if (name == "scalar") fn = groups2_scalar;
  if (name == "avx2" && __builtin_cpu_supports("avx2")) fn = groups2_avx2;
  if (name == "avx512" && __builtin_cpu_supports("avx512f")) fn = groups2_avx512;
  if (!fn) return false;
  fill_with(fn, out, count, seed, c0, tag);
  return true;
}

void philox_fill_as(isa which, std::uint32_t* out, std::size_t count, std::uint64_t seed, std::uint32_t c0,
                    rng_tag tag, std::uint64_t first) {
  group_fn fn = chosen().fn;
  if (which == isa::avx512) fn = groups2_avx512;
  if (which == isa::avx2) fn = groups2_avx2;
  if (which == isa::baseline) fn = groups2_scalar;
  fill_with(fn, out, count, seed, c0, tag, first);
}

}  // namespace tms::kernels
