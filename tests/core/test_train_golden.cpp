// The training loop end to end against PyTorch: tms::train on each run of tests/golden/
// train_golden_configs.hpp ends within 1e-5 of the weights torch.optim.AdamW / Adam reach from the same
// initial weights on the same batches (tests/golden/train_golden.py wrote them, with the model, loss,
// optimizer and schedule written there from the paper and the notebook). Also checks that the golden still
// describes these runs (their settings and train()'s initial weights, bit for bit), and that it has the
// power to catch a wrong optimizer: swapping beta1 and beta2 moves the result far outside the tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/trainer.hpp"
#include "golden/train_golden_configs.hpp"

namespace tms::golden {
void PrintTo(const golden_config& g, std::ostream* os) {
  *os << g.name;
}
}  // namespace tms::golden

namespace tms {
namespace {

constexpr double tolerance = 1e-5;

const nlohmann::json& golden_file() {
  static const nlohmann::json j = [] {
    std::ifstream f(std::string(TMS_GOLDEN_DIR) + "/train_golden.json");
    EXPECT_TRUE(f.good()) << "tests/golden/train_golden.json is missing";
    return f.good() ? nlohmann::json::parse(f) : nlohmann::json::object();
  }();
  return j;
}

const nlohmann::json* golden_run(const std::string& name) {
  if (!golden_file().contains("runs")) return nullptr;
  for (const auto& run : golden_file().at("runs"))
    if (run.at("name") == name) return &run;
  return nullptr;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t j = 0; j < a.size() && j < b.size(); ++j)
    d = std::max(d, static_cast<double>(std::abs(a[j] - b[j])));
  return d;
}

class TrainGolden : public ::testing::TestWithParam<golden::golden_config> {};

TEST_P(TrainGolden, MatchesPyTorch) {
  const auto& [name, c] = GetParam();
  const nlohmann::json* run = golden_run(name);
  ASSERT_NE(run, nullptr) << name << " is not in train_golden.json: regenerate it (train_golden.py)";
  // The golden was computed for exactly this run.
  const nlohmann::json& g = (*run)["config"];
  EXPECT_EQ(g["n"], c.features);
  EXPECT_EQ(g["m"], c.hidden);
  EXPECT_EQ(g["batch"], c.batch);
  EXPECT_EQ(g["steps"], c.steps);
  EXPECT_EQ(g["lr"], c.lr);
  EXPECT_EQ(g["schedule"], std::string(schedule_name(c.schedule)));
  EXPECT_EQ(g["beta1"], c.beta1);
  EXPECT_EQ(g["beta2"], c.beta2);
  EXPECT_EQ(g["weight_decay"], c.weight_decay);
  EXPECT_EQ(g["init"], std::string(init_name(c.init)));
  EXPECT_EQ(g["model"], std::string(model_name(c.model)));
  const train_result r = train(c, {}, {0});
  ASSERT_EQ(g["K"], r.K());
  // Same start: train()'s initial weights are the golden's (bit for bit: the same init_params).
  EXPECT_EQ(r.snapshots["W"], (*run)["W0"].get<std::vector<float>>())
      << "the init changed: regenerate the golden";
  EXPECT_EQ(r.snapshots["b"], (*run)["b0"].get<std::vector<float>>());
  // Same end, to float accuracy after 20 steps.
  const double dW = max_abs_diff(r.weights["W"], (*run)["W"].get<std::vector<float>>());
  const double db = max_abs_diff(r.weights["b"], (*run)["b"].get<std::vector<float>>());
  EXPECT_LT(dW, tolerance) << name;
  EXPECT_LT(db, tolerance) << name;
  // The training moved the weights well beyond the tolerance, so agreeing at the end says something.
  EXPECT_GT(max_abs_diff(r.weights["W"], r.snapshots["W"]), 100 * tolerance) << name;
}

// The test of the test: the same runs with beta1 and beta2 swapped (a plausible optimizer bug) end far from
// the golden; so does dropping the weight decay where there is one.
TEST_P(TrainGolden, DetectsAWrongOptimizer) {
  const auto& [name, c] = GetParam();
  const nlohmann::json* run = golden_run(name);
  ASSERT_NE(run, nullptr);
  const std::vector<float> W = (*run)["W"].get<std::vector<float>>();
  train_config swapped = c;
  std::swap(swapped.beta1, swapped.beta2);
  EXPECT_GT(max_abs_diff(train(swapped).weights["W"], W), 100 * tolerance) << name << ": betas swapped";
  if (c.weight_decay > 0) {
    train_config no_decay = c;
    no_decay.weight_decay = 0;
    const train_result r = train(no_decay);
    EXPECT_GT(std::max(max_abs_diff(r.weights["W"], W),
                       max_abs_diff(r.weights["b"], (*run)["b"].get<std::vector<float>>())),
              2 * tolerance)
        << name << ": weight decay dropped";
  }
}

INSTANTIATE_TEST_SUITE_P(Runs, TrainGolden, ::testing::ValuesIn(golden::train_golden_configs()),
                         [](const ::testing::TestParamInfo<golden::golden_config>& info) {
                           return info.param.name;
                         });

TEST(TrainGoldenFile, CoversEveryRun) {
  const auto configs = golden::train_golden_configs();
  ASSERT_TRUE(golden_file().contains("runs"));
  ASSERT_EQ(golden_file().at("runs").size(), configs.size())
      << "regenerate train_golden.json (train_golden.py)";
}

}  // namespace
}  // namespace tms
