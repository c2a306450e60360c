// AdamW against a hand-computed step and against torch.optim.AdamW (numbers from
// tests/golden/adamw_golden.py), every instruction-set level's build against the plain loop; the
// learning-rate schedules against their formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/adamw.hpp"
#include "isa_levels.hpp"

namespace tms {
namespace {

TEST(AdamW, FirstStepByHand) {
  // t = 1: m = (1 - b1) g, v = (1 - b2) g^2, so m_hat = g, v_hat = g^2 and the step is lr g / (|g| + eps),
  // after the decay p (1 - lr wd).
  float p[2] = {1.0f, -2.0f}, m[2] = {0, 0}, v[2] = {0, 0};
  const float g[2] = {0.5f, -4.0f};
  adamw_step(p, m, v, g, 2, 1, 1e-3, {0.9, 0.999, 1e-8, 0.01});
  EXPECT_NEAR(p[0], 1.0 * (1 - 1e-5) - 1e-3 * 0.5 / (0.5 + 1e-8), 1e-7);
  EXPECT_NEAR(p[1], -2.0 * (1 - 1e-5) + 1e-3 * 4.0 / (4.0 + 1e-8), 1e-7);
  EXPECT_NEAR(m[0], 0.05, 1e-8);
  EXPECT_NEAR(v[1], 0.001 * 16, 1e-8);
}

TEST(AdamW, SecondStepByHand) {
  // Two steps with g = 1 then g = -1 on p = 0, wd = 0 (Adam):
  // step 1: m = 0.1, v = 0.001, p = -lr;  step 2: m = 0.09 - 0.1 = -0.01, v = 0.000999 + 0.001 = 0.001999,
  // m_hat = -0.01 / 0.19, v_hat = 0.001999 / (1 - 0.999^2), p = -lr - lr m_hat / (sqrt(v_hat) + eps).
  float p = 0, m = 0, v = 0;
  const float g1 = 1, g2 = -1;
  const double lr = 0.01;
  adamw_step(&p, &m, &v, &g1, 1, 1, lr, {0.9, 0.999, 1e-8, 0.0});
  adamw_step(&p, &m, &v, &g2, 1, 2, lr, {0.9, 0.999, 1e-8, 0.0});
  const double m_hat = -0.01 / (1 - 0.81), v_hat = 0.001999 / (1 - 0.999 * 0.999);
  EXPECT_NEAR(p, -lr - lr * m_hat / (std::sqrt(v_hat) + 1e-8), 1e-7);
}

// Five steps of torch.optim.AdamW(lr=1e-2) on the gradients listed in tests/golden/adamw_golden.py.
void run_torch_sequence(double wd, lr_schedule schedule, const float (&expected)[4]) {
  const float grads[5][4] = {{0.5f, -0.3f, 0.0f, 2.0f},
                             {-0.1f, 0.4f, 1e-4f, -2.0f},
                             {0.25f, 0.25f, -3.0f, 0.0f},
                             {1.0f, -1.0f, 0.5f, 0.5f},
                             {0.0f, 0.3f, -0.2f, 1.5f}};
  float p[4] = {1.0f, -0.5f, 0.25f, 0.0f}, m[4] = {}, v[4] = {};
  for (int t = 0; t < 5; ++t)
    adamw_step(p, m, v, grads[t], 4, t + 1, 1e-2 * schedule_factor(schedule, t, 5), {0.9, 0.999, 1e-8, wd});
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(p[j], expected[j], 2e-7) << "parameter " << j;
}

TEST(AdamW, MatchesTorchAdamW) {
  run_torch_sequence(0.01, lr_schedule::constant, {0.96396631f, -0.491090894f, 0.256933928f, -0.0127890017f});
}
TEST(AdamW, MatchesTorchAdam) {
  run_torch_sequence(0.0, lr_schedule::constant, {0.964458704f, -0.491337985f, 0.257058382f, -0.0127928313f});
}
TEST(AdamW, MatchesTorchWithCosineSchedule) {
  run_torch_sequence(0.01, lr_schedule::cosine, {0.977564454f, -0.493305653f, 0.249177635f, -0.0094861323f});
}

// ---- Every instruction-set level's build of the update (kernels/isa.hpp), forced, against the plain loop
// below, bit for bit: adamw.cpp is compiled without contraction, so wider vectors must not change a single
// rounding. Sizes are not multiples of any vector width; gradients span zero, tiny and large values.

// The documented update, one parameter at a time in float, each multiply and add rounded on its own (no
// fused multiply-add, whatever the flags of this file).
__attribute__((optimize("fp-contract=off"))) void adamw_plain(float* p, float* m, float* v, const float* g,
                                                              std::size_t P, long t, double lr,
                                                              const adamw_settings& s) {
  const auto decay = static_cast<float>(1.0 - lr * s.weight_decay);
  const auto w1 = static_cast<float>(1.0 - s.beta1), beta2 = static_cast<float>(s.beta2);
  const auto w2 = static_cast<float>(1.0 - s.beta2);
  const auto step_size = static_cast<float>(lr / (1.0 - std::pow(s.beta1, static_cast<double>(t))));
  const auto bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(s.beta2, static_cast<double>(t))));
  const auto eps = static_cast<float>(s.eps);
  for (std::size_t j = 0; j < P; ++j) {
    p[j] = p[j] * decay;
    m[j] = m[j] + w1 * (g[j] - m[j]);
    v[j] = beta2 * v[j] + (w2 * g[j]) * g[j];
    p[j] = p[j] - step_size * (m[j] / (std::sqrt(v[j]) / bc2_sqrt + eps));
  }
}

class AdamWIsa : public ::testing::TestWithParam<kernels::isa> {};

TEST_P(AdamWIsa, EveryBuildMatchesThePlainLoopBitForBit) {
  const kernels::isa which = GetParam();
  if (!kernels::isa_supported(which))
    GTEST_SKIP() << "this CPU cannot run the " << kernels::isa_name(which) << " build; not tested here";
  for (double wd : {0.0, 0.01})
    for (std::size_t P : {1, 7, 15, 17, 33, 1031}) {
      std::vector<float> p(P), m(P, 0), v(P, 0), pr, mr, vr, pm, mm, vm, g(P);
      for (std::size_t j = 0; j < P; ++j) p[j] = std::sin(1.7f * static_cast<float>(j) + 0.3f);
      pr = pm = p, mr = mm = m, vr = vm = v;
      for (long t = 1; t <= 7; ++t) {
        for (std::size_t j = 0; j < P; ++j) {
          const float scale = t % 3 == 0 ? 1e-6f : t % 3 == 1 ? 1.0f : 30.0f;
          g[j] = (j + t) % 5 == 0 ? 0.0f : scale * std::cos(0.9f * static_cast<float>(j * t));
        }
        const adamw_settings s{0.9, 0.999, 1e-8, wd};
        const double lr = 1e-3 * schedule_factor(lr_schedule::cosine, t - 1, 7);
        ASSERT_TRUE(adamw_step_isa(which, p.data(), m.data(), v.data(), g.data(), P, t, lr, s));
        adamw_plain(pr.data(), mr.data(), vr.data(), g.data(), P, t, lr, s);
        adamw_step(pm.data(), mm.data(), vm.data(), g.data(), P, t, lr, s);  // the machine's own choice
        for (std::size_t j = 0; j < P; ++j) {
          ASSERT_EQ(p[j], pr[j]) << "P=" << P << " t=" << t << " j=" << j;
          ASSERT_EQ(m[j], mr[j]) << "P=" << P << " t=" << t << " j=" << j;
          ASSERT_EQ(v[j], vr[j]) << "P=" << P << " t=" << t << " j=" << j;
          ASSERT_EQ(p[j], pm[j]) << "P=" << P << " t=" << t << " j=" << j;
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, AdamWIsa, testing::isa_levels(), testing::isa_test_name);

TEST(Schedule, Formulas) {
  EXPECT_EQ(schedule_factor(lr_schedule::constant, 37, 100), 1.0);
  EXPECT_DOUBLE_EQ(schedule_factor(lr_schedule::linear, 0, 100), 1.0);
  EXPECT_DOUBLE_EQ(schedule_factor(lr_schedule::linear, 25, 100), 0.75);
  EXPECT_DOUBLE_EQ(schedule_factor(lr_schedule::cosine, 0, 101), 1.0);
  EXPECT_NEAR(schedule_factor(lr_schedule::cosine, 50, 101), std::cos(M_PI / 4), 1e-15);
  EXPECT_NEAR(schedule_factor(lr_schedule::cosine, 100, 101), 0.0, 1e-15);
  EXPECT_EQ(schedule_factor(lr_schedule::cosine, 0, 1), 1.0);
}

}  // namespace
}  // namespace tms
