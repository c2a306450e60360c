// The trainer: determinism across thread counts, known results of short trainings, failures and cancellation.
#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/trainer.hpp"

namespace tms {
namespace {

train_config small_config() {
  train_config c;
  c.features = 11;
  c.hidden = 3;
  c.density = {1, 0.3, 0.05, 0.01};
  c.restarts = 2;
  c.steps = 150;
  c.batch = 64;
  return c;
}

TEST(Trainer, BitIdenticalForAnyThreadCount) {
  for (model_kind kind : {model_kind::linear, model_kind::relu_output}) {
    train_config c = small_config();
    c.model = kind;
    c.threads = 1;
    const auto one = train(c);
    c.threads = 2;
    const auto two = train(c);
    c.threads = 3;
    const auto three = train(c);
    EXPECT_EQ(one.W, two.W);
    EXPECT_EQ(one.b, two.b);
    EXPECT_EQ(one.curve_loss, two.curve_loss);
    EXPECT_EQ(one.W, three.W);
    EXPECT_EQ(one.final_loss, three.final_loss);
  }
}

TEST(Trainer, RestartsDifferAndSeedsShift) {
  train_config c = small_config();
  c.density = {0.1};
  c.restarts = 3;
  const auto sweep = train(c);
  const std::size_t nm = 11 * 3;
  EXPECT_NE(std::vector<float>(sweep.W.begin(), sweep.W.begin() + nm),
            std::vector<float>(sweep.W.begin() + nm, sweep.W.begin() + 2 * nm));
  EXPECT_EQ(sweep.stream_seed, (std::vector<std::uint64_t>{0, 1, 2}));
}

// With the K-independent init, restart r of a sweep equals a model trained alone with seed + r.
TEST(Trainer, IndependentInitMakesASweepMemberEqualToTheModelAlone) {
  train_config c = small_config();
  c.init = init_scheme::independent;
  c.density = {1, 0.1, 0.01};
  c.restarts = 3;
  c.seed = 40;
  const auto sweep = train(c);
  train_config alone = c;
  alone.density = {0.1};
  alone.restarts = 1;
  alone.seed = 42;
  const auto single = train(alone);
  const std::int64_t k = 1 * 3 + 2;  // density 0.1, restart 2
  const std::size_t nm = 11 * 3;
  EXPECT_EQ(std::vector<float>(single.W.begin(), single.W.end()),
            std::vector<float>(sweep.W.begin() + k * nm, sweep.W.begin() + (k + 1) * nm));
  EXPECT_EQ(single.final_loss[0], sweep.final_loss[k]);
}

// One thread trains the Bernoulli instances of a stream in one lock-step group, sharing each step's random
// words; each instance must still equal the model trained alone (whose words are generated into its tiles).
// A wide model, so the step takes the entry-by-entry and outer-product paths too.
TEST(Trainer, LockStepGroupMembersEqualTheModelsAlone) {
  train_config c;
  c.features = 40;
  c.hidden = 17;
  c.importance = {{0.95, {}}};
  c.density = {1, 0.5, 0.2, 0.12, 0.002};  // the last draws binomial batches and trains apart
  c.init = init_scheme::independent;
  c.steps = 40;
  c.batch = 64;
  c.threads = 1;
  const auto sweep = train(c);
  const std::size_t nm = 40 * 17;
  for (std::size_t k = 0; k < c.density.size(); ++k) {
    train_config alone = c;
    alone.density = {c.density[k]};
    const auto single = train(alone);
    EXPECT_EQ(single.W, std::vector<float>(sweep.W.begin() + k * nm, sweep.W.begin() + (k + 1) * nm))
        << "density " << c.density[k];
    EXPECT_EQ(single.curve_loss,
              std::vector<double>(sweep.curve_loss.begin() + k * curve_points(c.steps),
                                  sweep.curve_loss.begin() + (k + 1) * curve_points(c.steps)));
  }
}

// The work split: every instance exactly once; a sweep's Bernoulli instances of one seed in one group per
// worker of about equal cost; a seed with few of them, and binomial instances, alone.
TEST(Trainer, TrainingGroupsCoverEveryInstanceOnce) {
  train_config c;
  c.features = 100;
  c.hidden = 20;
  c.density.clear();
  for (int j = 0; j < 20; ++j) c.density.push_back(std::pow(20.0, -j / 19.0));  // the last two are binomial
  c.restarts = 2;
  train_result out;
  out.instances = config_instances(c);
  for (const auto& inst : out.instances) out.stream_seed.push_back(instance_stream_seed(c, inst));
  const auto groups = training_groups(c, out, 2);
  std::vector<int> seen(out.K(), 0);
  int lockstep = 0;
  for (const auto& g : groups) {
    for (std::int64_t k : g) {
      ++seen[k];
      EXPECT_EQ(out.stream_seed[k], out.stream_seed[g[0]]);
    }
    if (g.size() > 1) {
      ++lockstep;
      EXPECT_EQ(g.size(), 9u);  // 18 Bernoulli densities per seed, dealt to 2 workers
    }
  }
  EXPECT_EQ(seen, std::vector<int>(out.K(), 1));
  EXPECT_EQ(lockstep, 4);  // 2 seeds x 2 workers
  EXPECT_EQ(groups.size(), 4u + 2 * 2);

  c.density = {1, 0.6, 0.4, 0.25, 0.15, 0.01};  // five Bernoulli instances per seed: under four per worker
  out.instances = config_instances(c);
  out.stream_seed.clear();
  for (const auto& inst : out.instances) out.stream_seed.push_back(instance_stream_seed(c, inst));
  for (const auto& g : training_groups(c, out, 2)) EXPECT_EQ(g.size(), 1u);
  const auto one = training_groups(c, out, 1);  // one worker: a group of five per seed, then the binomials
  ASSERT_EQ(one.size(), 2u + 2);
  EXPECT_EQ(one[0].size(), 5u);
  EXPECT_EQ(one[3].size(), 1u);

  c.features = 1000;  // a step's words (B n, 4 MiB) past 2 MiB: every instance alone
  out.instances = config_instances(c);
  for (const auto& g : training_groups(c, out, 1)) EXPECT_EQ(g.size(), 1u);
}

TEST(Trainer, ReferenceInitScaleDependsOnInstanceCount) {
  train_config c = small_config();
  const auto r = train(c);
  EXPECT_DOUBLE_EQ(r.init_std, std::sqrt(2.0 / (3 * (11 + 8))));
}

TEST(Trainer, LossCurveShape) {
  train_config c = small_config();
  c.steps = 1000;
  const auto r = train(c);
  ASSERT_EQ(r.curve_step.size(), 200u);
  EXPECT_EQ(r.curve_step.front(), 5);
  EXPECT_EQ(r.curve_step.back(), 1000);
  ASSERT_EQ(r.curve_loss.size(), 200u * r.K());
  for (std::int64_t k = 0; k < r.K(); ++k) {
    EXPECT_LT(r.curve_loss[k * 200 + 199], r.curve_loss[k * 200]) << "instance " << k << " learns";
    // The last 1% (10 steps) is the last two 5-step windows.
    EXPECT_NEAR(r.final_loss[k], (r.curve_loss[k * 200 + 198] + r.curve_loss[k * 200 + 199]) / 2, 1e-12);
  }
}

// The excerpt's claim: the linear model (n = 20, m = 5, I = 0.7^i) learns exactly the top five features, with
// W^T W the identity on them, at every density; the ReLU model does the same on dense features.
TEST(Trainer, LinearModelLearnsExactlyTheTopFiveFeatures) {
  train_config c;
  c.model = model_kind::linear;
  c.density = {1, 0.1};
  c.steps = 4000;
  const auto r = train(c);
  for (std::int64_t k = 0; k < r.K(); ++k) {
    const float* W = r.W.data() + k * 20 * 5;
    const auto mt = measure(W, 20, 5);
    EXPECT_EQ(mt.represented, 5) << "density " << r.instances[k].density;
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(mt.norms[i], 1.0, 0.05) << "feature " << i;
    for (int i = 5; i < 20; ++i) EXPECT_LT(mt.norms[i], 0.15) << "feature " << i;
    const auto G = gram(W, 20, 5);
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) {
        if (i != j) {
          EXPECT_NEAR(G[i * 20 + j], 0, 0.05) << i << "," << j;
        }
      }
  }
}

// And the ReLU output model goes into superposition when the features are sparse: more than m represented.
TEST(Trainer, ReluOutputModelSuperposesSparseFeatures) {
  train_config c;
  c.model = model_kind::relu_output;
  c.density = {1, 0.03};
  c.steps = 4000;
  const auto r = train(c);
  const auto dense = measure(r.W.data(), 20, 5);
  const auto sparse = measure(r.W.data() + 20 * 5, 20, 5);
  EXPECT_EQ(dense.represented, 5);
  EXPECT_GT(sparse.represented, 7);
  EXPECT_GT(sparse.frobenius_sq, 7.0);
}

TEST(Trainer, DivergenceIsARunError) {
  train_config c = small_config();
  c.lr = 1e30;
  try {
    train(c);
    FAIL() << "expected a run_error";
  } catch (const run_error& e) {
    EXPECT_NE(std::string(e.what()).find("loss became"), std::string::npos) << e.what();
  }
}

TEST(Trainer, ProgressCallbackCanCancel) {
  train_config c = small_config();
  c.steps = 200000;
  int calls = 0;
  EXPECT_THROW(train(c,
                     [&](const train_progress& p) {
                       EXPECT_EQ(p.steps_total, 8 * 200000);
                       return ++calls < 2;
                     }),
               cancelled_error);
  EXPECT_EQ(calls, 2);
}

TEST(Trainer, InvalidConfigIsAUsageError) {
  train_config c = small_config();
  c.density = {0.5, 1.5};
  try {
    train(c);
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()), "density: 1.5 is not allowed; allowed: a finite number in (0, 1]");
  }
}

}  // namespace
}  // namespace tms

namespace tms {
namespace {

TEST(Trainer, SnapshotsRecordTheAskedStepsAndLeaveTrainingUnchanged) {
  train_config c = small_config();
  c.steps = 300;
  const auto plain = train(c);
  const std::vector<std::int64_t> asked = {300, 0, 10, 10, 1, 100};
  const auto snap = train(c, {}, asked);
  EXPECT_EQ(snap.W, plain.W) << "snapshots must not change the final weights";
  EXPECT_EQ(snap.final_loss, plain.final_loss);
  ASSERT_EQ(snap.snapshot_step, (std::vector<std::int64_t>{0, 1, 10, 100, 300}));
  const std::size_t K = snap.K(), nm = 11 * 3;
  ASSERT_EQ(snap.snapshot_W.size(), 5 * K * nm);
  // The last snapshot is the final weights; the first the initial ones (bias zero, loss undefined).
  EXPECT_TRUE(std::equal(plain.W.begin(), plain.W.end(), snap.snapshot_W.begin() + 4 * K * nm));
  for (std::size_t j = 0; j < K * 11; ++j) EXPECT_EQ(snap.snapshot_b[j], 0.0f);
  EXPECT_TRUE(std::isnan(snap.snapshot_loss[0]));
  EXPECT_GT(snap.snapshot_loss[1 * K], snap.snapshot_loss[4 * K]) << "the loss falls between step 1 and 300";
  EXPECT_THROW(train(c, {}, {301}), usage_error);
}

TEST(Trainer, LogSpacedSteps) {
  const auto s = log_spaced_steps(10000, 5);
  EXPECT_EQ(s, (std::vector<std::int64_t>{1, 10, 100, 1000, 10000}));
  const auto dense = log_spaced_steps(3, 10);
  EXPECT_EQ(dense, (std::vector<std::int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace tms
