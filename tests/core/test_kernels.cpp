// The fast kernels against their plain references, on odd sizes: SIMD Philox against Random123, the tiled
// sampler against the compressed-row sampler, and the fast tied step against model_loss_and_grad.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/data_sparse.hpp"
#include "core/kernels/philox_simd.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"

namespace tms {
namespace {

TEST(Philox, WordDefinitionMatchesRandom123) {
  // Word e: group e / 64, word (e / 16) % 4 of block 16 (e / 64) + e % 16.
  const auto u = philox(7)(5, 16 * 3 + 9, 0, rng_tag::bernoulli);
  EXPECT_EQ(kernels::philox_word(7, 5, rng_tag::bernoulli, 64 * 3 + 16 * 2 + 9), u[2]);
  // Random123's published known-answer vector for Philox4x32-10 (counter and key all zero).
  const auto zero = philox(0)(0, 0, 0, rng_tag::bernoulli);
  EXPECT_EQ(zero[0], 0x6627e8d5u);
  EXPECT_EQ(zero[1], 0xe169c58du);
  EXPECT_EQ(zero[2], 0xbc57ac4cu);
  EXPECT_EQ(zero[3], 0x9b00dbd8u);
}

TEST(Philox, EverySimdPathMatchesTheScalarDefinition) {
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    for (std::size_t count : {0, 1, 15, 63, 64, 65, 127, 128, 129, 1000, 4099}) {
      for (std::uint64_t seed : {0ull, 42ull, 0x123456789abcdefull}) {
        std::vector<std::uint32_t> out(count + 1, 0xdeadbeef);
        if (!kernels::philox_fill_isa(isa, out.data(), count, seed, 17, rng_tag::binomial)) {
          GTEST_LOG_(INFO) << isa << " is not available on this machine";
          break;
        }
        for (std::size_t e = 0; e < count; ++e)
          ASSERT_EQ(out[e], kernels::philox_word(seed, 17, rng_tag::binomial, e)) << isa << " word " << e;
        EXPECT_EQ(out[count], 0xdeadbeefu) << "no write past the end";
      }
    }
  }
}

TEST(Sampling, MethodChoice) {
  EXPECT_EQ(choose_sampling(1.0, 20), sampling_method::bernoulli);
  EXPECT_EQ(choose_sampling(0.001, 20), sampling_method::binomial);
  EXPECT_EQ(choose_sampling(0.01, 1000), sampling_method::binomial);
  EXPECT_EQ(choose_sampling(0.5, 1000), sampling_method::bernoulli);
  EXPECT_EQ(choose_sampling(0.1, 400), sampling_method::bernoulli);
  EXPECT_EQ(choose_sampling(0.05, 400), sampling_method::binomial);
  EXPECT_EQ(choose_sampling(0.001, 2), sampling_method::bernoulli);  // 2 words per sample at most
  const auto table = binomial_thresholds(20, 0.1);
  EXPECT_NEAR(static_cast<double>(table[0]), std::pow(0.9, 20) * 0x1.0p32, 2.0);
  EXPECT_EQ(table.back(), std::uint64_t{1} << 32);
  for (std::size_t k = 1; k < table.size(); ++k) EXPECT_GE(table[k], table[k - 1]);
}

// The tiled sampler writes exactly the batch of the compressed-row sampler, for both methods, and clears what
// an earlier batch of another density left behind. With keep_words (the trainer's lock-step groups) it does
// so too when densities take turns on one step: the second batch of a step converts the words the first one
// kept, and a binomial batch in between does not leave stale words behind.
TEST(Sampling, TiledEqualsCompressedRows) {
  for (int n : {1, 7, 33, 300}) {
    for (int B : {1, 17, 50, 64}) {  // B = 64: the Bernoulli batch is generated straight into the tiles
      for (bool relative : {false, true})
        for (bool keep : {false, true}) {
          kernels::tied_fast_workspace ws;
          ws.reserve(B, n, 3);
          ws.sampler.keep_words = keep;
          sparse_batch<float> ref;
          ref.reserve(B, n);
          if (relative) {  // per-feature densities: 0.5x, 1x, 2x, ...
            std::vector<double> r(n);
            for (int i = 0; i < n; ++i) r[i] = 0.5 * (1 + i % 3);
            ws.sampler.set_relative(r);
            ref.sampler.set_relative(r);
          }
          int turn = 0;
          for (double d : {1.0, 0.3, 0.004, 0.02, 0.3, 1.0}) {
            const int step = keep ? turn / 2 : turn;  // keep: two densities per step
            sample_sparse_batch(ref, 11, step, d);
            const std::int64_t nnz =
                sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, 11, step, d);
            std::vector<float> dense(static_cast<std::size_t>(B) * n, 0.0f);
            for (int s = 0; s < B; ++s)
              for (int e = ref.offset[s]; e < ref.offset[s + 1]; ++e)
                dense[s * n + ref.index[e]] = ref.value[e];
            for (int s = 0; s < ws.tiles * 16; ++s)
              for (int i = 0; i < n; ++i) {
                const float x = ws.X.get()[((s / 16) * n + i) * 16 + s % 16];
                ASSERT_EQ(x, s < B ? dense[s * n + i] : 0.0f)
                    << "n=" << n << " B=" << B << " d=" << d << " s=" << s;
              }
            EXPECT_EQ(nnz, ref.nnz());
            ++turn;
          }
        }
    }
  }
}

// The fast step computes the loss and gradient of the reference step, to float accuracy, on odd sizes,
// through every path: the one-pass small-model path, tiles, outer products (m = 31: two vectors per row,
// m = 47: three) and, for wide models (m >= 16), the entry-by-entry paths for sparse x (binomial and
// Bernoulli batches) and sparse g.
TEST(FastStep, MatchesReferenceOnOddSizes) {
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0, 0.4f);
  int sparse_g_steps = 0, dense_g_wide_steps = 0, sparse_x_wide_steps = 0, small_steps = 0, tile_steps = 0,
      outer_steps = 0, listed_bernoulli_steps = 0, entries_steps = 0;
  for (model_kind kind : {model_kind::linear, model_kind::relu_output})
    for (int n : {1, 7, 33, 130})
      for (int m : {1, 3, 8, 9, 17, 31, 33, 47})
        for (int B : {1, 17, 32, 50})
          for (float bias : {-0.1f, -1.5f}) {
            std::vector<float> params(model_param_count(kind, n, m)), importance(n);
            for (auto& v : params) v = normal(gen);
            for (int i = 0; i < n; ++i)
              params[n * m + i] = bias + 0.05f * normal(gen), importance[i] = std::pow(0.9f, i);
            kernels::tied_fast_workspace fast;
            fast.reserve(B, n, m);
            model_workspace<float> ref;
            ref.reserve(B, n, m);
            int step = 0;
            for (double d : {1.0, 0.3, 0.1, 0.02}) {
              std::vector<float> g_fast(params.size(), 0.0f), g_ref(params.size(), 0.0f);
              const double l_fast = kernels::tied_fast_loss_and_grad(kind, g_fast.data(), params.data(),
                                                                     importance.data(), d, 3, step, fast);
              sample_sparse_batch(ref.x, 3, step, d);
              const double l_ref =
                  model_loss_and_grad(kind, g_ref.data(), params.data(), importance.data(), n, m, ref);
              ++step;
              small_steps += fast.last_path == kernels::step_path::small;
              tile_steps += m < 16 && fast.last_path == kernels::step_path::tiles;
              outer_steps += fast.last_path == kernels::step_path::outer;
              if (m >= 16) {
                const bool g_sparse = fast.g_nonzero < 0.25 * n * B;
                sparse_g_steps += g_sparse;
                dense_g_wide_steps += !g_sparse;
                sparse_x_wide_steps += ref.x.sampler.method == sampling_method::binomial;
                const bool listed = fast.last_x_route == kernels::x_route::entries;
                listed_bernoulli_steps += listed && ref.x.sampler.method == sampling_method::bernoulli;
                entries_steps += listed && ref.x.sampler.method == sampling_method::binomial;
              }
              EXPECT_NEAR(l_fast, l_ref, 1e-4 * l_ref + 1e-9)
                  << "n=" << n << " m=" << m << " B=" << B << " d=" << d;
              double scale = 0;
              for (float g : g_ref) scale = std::max(scale, static_cast<double>(std::abs(g)));
              for (std::size_t j = 0; j < params.size(); ++j)
                ASSERT_NEAR(g_fast[j], g_ref[j], 1e-4 * scale + 1e-9)
                    << "parameter " << j << " n=" << n << " m=" << m << " B=" << B << " d=" << d;
            }
          }
  // Every path was taken.
  EXPECT_GT(sparse_g_steps, 10);
  EXPECT_GT(dense_g_wide_steps, 10);
  EXPECT_GT(sparse_x_wide_steps, 10);
  EXPECT_GT(small_steps, 10);
  EXPECT_GT(tile_steps, 10);
  EXPECT_GT(outer_steps, 10);
  EXPECT_EQ(entries_steps, sparse_x_wide_steps);  // a binomial batch is always listed
  // Listing a Bernoulli batch needs AVX-512 (elsewhere those batches take the tiled products).
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_GT(listed_bernoulli_steps, 10);
  }
}

}  // namespace
}  // namespace tms
