// The fast kernels against their plain references, on odd sizes: SIMD Philox against Random123, the tiled
// sampler against the compressed-row sampler, and the fast tied step against model_loss_and_grad; each with
// every instruction-set level's build forced in turn (kernels/isa.hpp), so a machine with AVX-512 also checks
// what an AVX2 or a baseline machine computes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>

#include "core/batch_source.hpp"
#include "core/data_sparse.hpp"
#include "core/kernels/philox_simd.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"
#include "core/model_tensors.hpp"
#include "isa_levels.hpp"

namespace tms {
namespace {

// The fast step as the trainer takes it: the independent source fills the tiles, then the kernel runs.
inline double fast_step(model_kind kind, float* grad, const float* params, const float* importance,
                        double density, std::uint64_t seed, std::int64_t step,
                        kernels::tied_fast_workspace& ws) {
  batch_source(train_config{}).fill(ws, seed, step, density);
  return kernels::tied_fast_loss_and_grad(kind, grad, params, importance, ws);
}

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
  std::string missing;  // paths this CPU cannot run: the test is then reported skipped, not passed
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    std::uint32_t probe;
    if (!kernels::philox_fill_isa(isa, &probe, 1, 0, 1, rng_tag::binomial)) {
      missing += std::string(missing.empty() ? "" : ", ") + isa;
      continue;
    }
    for (std::size_t count : {0, 1, 15, 63, 64, 65, 127, 128, 129, 1000, 4099}) {
      for (std::uint64_t seed : {0ull, 42ull, 0x123456789abcdefull}) {
        std::vector<std::uint32_t> out(count + 1, 0xdeadbeef);
        ASSERT_TRUE(kernels::philox_fill_isa(isa, out.data(), count, seed, 17, rng_tag::binomial));
        for (std::size_t e = 0; e < count; ++e)
          ASSERT_EQ(out[e], kernels::philox_word(seed, 17, rng_tag::binomial, e)) << isa << " word " << e;
        EXPECT_EQ(out[count], 0xdeadbeefu) << "no write past the end";
      }
    }
  }
  if (!missing.empty())
    GTEST_SKIP() << "this CPU cannot run the Philox path(s) " << missing << "; the others passed";
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
// kept, and a binomial batch in between does not leave stale words behind. `which`: the level of the tile
// clones and the Philox path (isa::machine: as every run).
void check_tiled_equals_compressed_rows(kernels::isa which) {
  for (int n : {1, 7, 33, 300}) {
    for (int B : {1, 17, 50, 64}) {  // B = 64: the Bernoulli batch is generated straight into the tiles
      for (bool relative : {false, true})
        for (bool keep : {false, true}) {
          kernels::tied_fast_workspace ws;
          ws.reserve(B, n, 3);
          ws.sampler.keep_words = keep;
          ws.sampler.forced_isa = which;
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

TEST(Sampling, TiledEqualsCompressedRows) {
  check_tiled_equals_compressed_rows(kernels::isa::machine);
}

// The fast step computes the loss and gradient of the reference step, to float accuracy, on odd sizes,
// through every path: the one-pass small-model path, tiles, outer products (m = 31: two vectors per row,
// m = 47: three) and, for wide models (m >= 16), the entry-by-entry paths for sparse x (binomial and
// Bernoulli batches) and sparse g. `which`: the level whose kernels run (isa::machine: as every run);
// `relative`: per-feature densities 0.5x, 1x, 1.5x, ... (always Bernoulli batches).
void check_step_matches_reference(kernels::isa which, bool relative) {
  std::mt19937 gen(relative ? 6 : 5);
  std::normal_distribution<float> normal(0, 0.4f);
  int sparse_g_steps = 0, dense_g_wide_steps = 0, sparse_x_wide_steps = 0, small_steps = 0, tile_steps = 0,
      outer_steps = 0, listed_bernoulli_steps = 0, entries_steps = 0;
  for (model_kind kind : {model_kind::linear, model_kind::relu_output, model_kind::relu_hidden})
    for (int n : {1, 7, 33, 130})
      for (int m : {1, 3, 8, 9, 17, 31, 33, 47})
        for (int B : {1, 17, 32, 50})
          for (float bias : {-0.1f, -1.5f}) {
            if (!kernels::tied_fast_supports(kind, n, m)) continue;  // relu-hidden: the small path only
            std::vector<float> params(model_param_count(kind, n, m)), importance(n);
            for (auto& v : params) v = normal(gen);
            for (int i = 0; i < n; ++i)
              params[n * m + i] = bias + 0.05f * normal(gen), importance[i] = std::pow(0.9f, i);
            kernels::tied_fast_workspace fast;
            fast.reserve(B, n, m);
            model_workspace<float> ref;
            ref.reserve(B, n, m);
            if (which != kernels::isa::machine) {
              ASSERT_TRUE(kernels::tied_fast_force_isa(fast, which));
            }
            if (relative) {
              std::vector<double> r(n);
              for (int i = 0; i < n; ++i) r[i] = 0.5 * (1 + i % 3);
              fast.sampler.set_relative(r);
              ref.x.sampler.set_relative(r);
            }
            int step = 0;
            for (double d : {1.0, 0.3, 0.1, 0.02}) {
              std::vector<float> g_fast(params.size(), 0.0f), g_ref(params.size(), 0.0f);
              const double l_fast =
                  fast_step(kind, g_fast.data(), params.data(), importance.data(), d, 3, step, fast);
              sample_sparse_batch(ref.x, 3, step, d);
              const double l_ref =
                  model_loss_and_grad(kind, g_ref.data(), params.data(), importance.data(), n, m, ref);
              ++step;
              ASSERT_EQ(fast.last_isa, kernels::resolve_isa(which)) << "the step ran the forced level";
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
  if (!relative) {
    EXPECT_GT(sparse_x_wide_steps, 10);  // per-feature densities never draw binomial batches
  }
  EXPECT_GT(small_steps, 10);
  EXPECT_GT(tile_steps, 10);
  EXPECT_GT(outer_steps, 10);
  EXPECT_EQ(entries_steps, sparse_x_wide_steps);  // a binomial batch is always listed
  // Listing a Bernoulli batch needs AVX-512 (elsewhere those batches take the tiled products); a forced level
  // stands for a machine that has exactly that level.
  const bool lists =
      which == kernels::isa::machine ? __builtin_cpu_supports("avx512f") != 0 : which == kernels::isa::avx512;
  if (lists) {
    EXPECT_GT(listed_bernoulli_steps, 10);
  } else {
    EXPECT_EQ(listed_bernoulli_steps, 0);
  }
}

TEST(FastStep, MatchesReferenceOnOddSizes) {
  check_step_matches_reference(kernels::isa::machine, false);
}

// The abs model's tiled step (untied W_in, W_out; target |x|) against the reference maths on the reference
// sampler's rows, on odd sizes, signed and uniform values, Bernoulli and binomial batches, alone and in a
// lock-step group's order (keep_words); and the batch source's signed tiles are exactly those rows.
void check_abs_step_matches_reference(kernels::isa which) {
  std::mt19937 gen(17);
  std::normal_distribution<float> normal(0, 0.4f);
  int binomial_steps = 0, bernoulli_steps = 0;
  int routes[2][2] = {};  // [entry by entry][packed]: steps that took each way through the products
  for (auto [n, m, B] : {std::tuple{3, 6, 50}, std::tuple{1, 2, 16}, std::tuple{17, 9, 33},
                         std::tuple{100, 40, 77}, std::tuple{40, 17, 64}})
    for (value_distribution values : {value_distribution::signed_uniform, value_distribution::uniform})
      for (bool keep : {false, true}) {
        train_config c;
        c.model = model_kind::abs;
        c.features = n, c.hidden = m, c.batch = B, c.values = values;
        ASSERT_TRUE(kernels::tied_fast_supports(c));
        const model_layout L = model_tensors(c);
        std::vector<float> params(L.params), importance(n);
        for (auto& v : params) v = normal(gen);
        for (int i = 0; i < n; ++i) importance[i] = 0.5f + 0.5f * std::abs(normal(gen));
        const batch_source source(c);
        kernels::tied_fast_workspace fast;
        fast.reserve(B, n, m);
        source.prepare(fast);
        if (which != kernels::isa::machine) {
          ASSERT_TRUE(kernels::tied_fast_force_isa(fast, which));
        }
        fast.sampler.keep_words = keep;
        model_workspace<float> ref;
        ref.reserve(B, n, m);
        source.prepare(ref.x);
        int step = 0;
        for (double d : {1.0, 0.3, 0.02, 0.002}) {
          source.fill(fast, 5, step, d);
          source.fill(ref.x, 5, step, d);
          ++step;
          (ref.x.sampler.method == sampling_method::binomial ? binomial_steps : bernoulli_steps)++;
          for (int s = 0; s < B; ++s) {
            std::vector<float> row(n, 0.0f);
            for (int e = ref.x.offset[s]; e < ref.x.offset[s + 1]; ++e) row[ref.x.index[e]] = ref.x.value[e];
            for (int i = 0; i < n; ++i)
              ASSERT_EQ(fast.X.get()[((s / 16) * static_cast<std::size_t>(n) + i) * 16 + s % 16], row[i])
                  << "sample " << s << " feature " << i << " d=" << d;
          }
          std::vector<float> g_fast(L.params, 0.0f), g_ref(L.params, 0.0f);
          const double l_fast = kernels::tied_fast_loss_and_grad(model_kind::abs, g_fast.data(),
                                                                 params.data(), importance.data(), fast);
          const double l_ref = model_loss_and_grad(L, g_ref.data(), params.data(), importance.data(), ref);
          ASSERT_EQ(fast.last_isa, kernels::resolve_isa(which));
          ASSERT_LE(fast.last_kept, B);
          routes[fast.last_x_route == kernels::x_route::entries][fast.last_kept < B]++;
          EXPECT_NEAR(l_fast, l_ref, 1e-4 * l_ref + 1e-9)
              << "n=" << n << " m=" << m << " B=" << B << " d=" << d;
          double scale = 0;
          for (float g : g_ref) scale = std::max(scale, static_cast<double>(std::abs(g)));
          for (std::size_t j = 0; j < g_ref.size(); ++j)
            ASSERT_NEAR(g_fast[j], g_ref[j], 1e-4 * scale + 1e-9)
                << "parameter " << j << " n=" << n << " m=" << m << " B=" << B << " d=" << d;
        }
      }
  EXPECT_GT(binomial_steps, 4);
  EXPECT_GT(bernoulli_steps, 4);
  // Every way: the tiled products over all samples or over the packed non-empty ones (the empty ones in
  // closed form), and x entry by entry over all samples or the packed ones.
  for (int entries : {0, 1})
    for (int packed : {0, 1})
      EXPECT_GT(routes[entries][packed], 1) << "entries " << entries << " packed " << packed;
}

TEST(FastStep, AbsMatchesReferenceOnOddSizes) {
  check_abs_step_matches_reference(kernels::isa::machine);
}

// ---- Every level's build, forced: AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64. A level this
// CPU lacks is skipped, with a message, never passed silently.
class ForcedIsa : public ::testing::TestWithParam<kernels::isa> {
 protected:
  void SetUp() override {
    if (!kernels::isa_supported(GetParam()))
      GTEST_SKIP()
          << "this CPU cannot run the " << kernels::isa_name(GetParam())
          << " build (x86-64-v4 = AVX-512 F/BW/CD/DQ/VL, x86-64-v3 = AVX2, FMA, BMI); not tested here";
  }
};

TEST_P(ForcedIsa, StepMatchesReferenceOnOddSizes) {
  check_step_matches_reference(GetParam(), false);
}

TEST_P(ForcedIsa, StepMatchesReferenceWithRelativeDensities) {
  check_step_matches_reference(GetParam(), true);
}

TEST_P(ForcedIsa, AbsStepMatchesReferenceOnOddSizes) {
  check_abs_step_matches_reference(GetParam());
}

TEST_P(ForcedIsa, TiledSamplerEqualsCompressedRows) {
  check_tiled_equals_compressed_rows(GetParam());
}

// The words of every Philox path at a stream offset (the fused sampler's 1024-word chunks start there).
TEST_P(ForcedIsa, PhiloxPathAtOffsets) {
  for (std::uint64_t first : {0ull, 128ull, 1024ull, 4096ull * 3})
    for (std::size_t count : {1, 127, 128, 1000}) {
      std::vector<std::uint32_t> out(count);
      kernels::philox_fill_as(GetParam(), out.data(), count, 99, 4, rng_tag::bernoulli, first);
      for (std::size_t e = 0; e < count; ++e)
        ASSERT_EQ(out[e], kernels::philox_word(99, 4, rng_tag::bernoulli, first + e)) << "word " << first + e;
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, ForcedIsa, testing::isa_levels(), testing::isa_test_name);

// A run (nothing forced) uses the best level this machine has, and its step is the forced build of that
// level, bit for bit: forcing is a test hook that selects among the builds a run could use, nothing else.
TEST(ForcedIsaHook, RunsUseTheMachinesBestLevel) {
  using kernels::isa;
  const isa best = kernels::isa_supported(isa::avx512) ? isa::avx512
                   : kernels::isa_supported(isa::avx2) ? isa::avx2
                                                       : isa::baseline;
  EXPECT_EQ(kernels::machine_isa(), best);
  EXPECT_STREQ(kernels::tied_fast_isa(), kernels::isa_name(best));
  EXPECT_TRUE(kernels::isa_supported(isa::baseline));
  for (auto [n, m, B] : {std::tuple{20, 5, 64}, std::tuple{33, 9, 50}, std::tuple{130, 31, 77}}) {
    std::vector<float> params(model_param_count(model_kind::relu_output, n, m), 0.1f), importance(n, 1.0f);
    for (std::size_t j = 0; j < params.size(); ++j) params[j] = 0.3f * std::sin(static_cast<float>(j));
    kernels::tied_fast_workspace run, forced;
    run.reserve(B, n, m);
    forced.reserve(B, n, m);
    ASSERT_TRUE(kernels::tied_fast_force_isa(forced, best));
    EXPECT_EQ(run.forced_isa, isa::machine);
    for (int step = 0; step < 4; ++step) {
      const double d = step % 2 ? 1.0 : 0.05;
      std::vector<float> g_run(params.size(), 0.0f), g_forced(params.size(), 0.0f);
      const double l_run =
          fast_step(model_kind::relu_output, g_run.data(), params.data(), importance.data(), d, 8, step, run);
      const double l_forced = fast_step(model_kind::relu_output, g_forced.data(), params.data(),
                                        importance.data(), d, 8, step, forced);
      EXPECT_EQ(run.last_isa, best);
      EXPECT_EQ(std::memcmp(&l_run, &l_forced, sizeof l_run), 0);
      EXPECT_EQ(std::memcmp(g_run.data(), g_forced.data(), sizeof(float) * g_run.size()), 0)
          << "n=" << n << " m=" << m << " step " << step;
    }
  }
  kernels::isa parsed = isa::baseline;
  EXPECT_TRUE(kernels::parse_isa("avx2", parsed));
  EXPECT_EQ(parsed, isa::avx2);
  EXPECT_TRUE(kernels::parse_isa("machine", parsed));
  EXPECT_EQ(parsed, isa::machine);
  EXPECT_FALSE(kernels::parse_isa("sse9", parsed));
}

}  // namespace
}  // namespace tms
