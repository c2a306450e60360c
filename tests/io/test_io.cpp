// The file layer: .npy encoding, atomic writes, and the TOML config (unknown keys, types, garbled files).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.hpp"
#include "io/atomic_file.hpp"
#include "io/npz.hpp"
#include "io/run_dir.hpp"
#include "io/toml_config.hpp"

namespace tms {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("tms-test-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path write_text(const fs::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

TEST(Npy, HeaderIsPaddedAndDescribesTheArray) {
  const std::string bytes = io::npy_encode(io::npy_f32("W", {2, 3}, std::vector<float>(6, 1.0f)));
  ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len =
      static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + header_len + 6 * 4);
  const std::string one = io::npy_encode(io::npy_f64("d", {7}, std::vector<double>(7)));
  EXPECT_NE(one.find("'shape': (7,)"), std::string::npos);
}

TEST(AtomicFile, WritesWholeFileAndLeavesNoTemporary) {
  const fs::path dir = temp_dir();
  io::write_file_atomic(dir / "a.txt", "hello");
  std::ifstream in(dir / "a.txt");
  std::string s;
  in >> s;
  EXPECT_EQ(s, "hello");
  EXPECT_FALSE(fs::exists(dir / "a.txt.tmp"));
  EXPECT_THROW(io::write_file_atomic(dir / "missing" / "a.txt", "x"), run_error);
}

TEST(AtomicFile, UnwritableFolderIsAUsageError) {
  const fs::path dir = temp_dir();
  write_text(dir, "file", "x");
  EXPECT_THROW(io::ensure_writable_dir(dir / "file" / "sub", "out"), usage_error);
}

TEST(TomlConfig, AppliesEveryKey) {
  const fs::path dir = temp_dir();
  auto doc = io::toml_parse_config(write_text(dir, "c.toml", R"(
preset = "arena"
model = "linear"
features = 12
hidden = 4
density = [1, 0.1]
importances = [0.9, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]]
restarts = 3
steps = 77
batch = 32
lr = 0.01
schedule = "cosine"
beta1 = 0.8
beta2 = 0.99
eps = 1e-6
weight_decay = 0.1
init = "independent"
seed = 9
threads = 1
)"));
  ASSERT_EQ(io::toml_preset(*doc).value(), "arena");
  train_config c = preset_config("arena");
  io::toml_apply(c, *doc);
  EXPECT_EQ(c.model, model_kind::linear);
  EXPECT_EQ(c.features, 12);
  EXPECT_EQ(c.density, (std::vector<double>{1, 0.1}));
  ASSERT_EQ(c.importance.size(), 2u);
  EXPECT_EQ(c.importance[0].base, 0.9);
  EXPECT_EQ(c.importance[1].values.size(), 12u);
  EXPECT_EQ(c.instance_count(), 2 * 2 * 3);
  EXPECT_EQ(c.schedule, lr_schedule::cosine);
  EXPECT_EQ(c.init, init_scheme::independent);
  EXPECT_EQ(c.seed, 9u);
  EXPECT_NO_THROW(c.validate());
}

void expect_usage_error(const std::string& toml, const std::string& fragment) {
  const fs::path dir = temp_dir();
  try {
    auto doc = io::toml_parse_config(write_text(dir, "bad.toml", toml));
    train_config c;
    io::toml_apply(c, *doc);
    c.validate();
    FAIL() << "expected a usage_error for: " << toml;
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(TomlConfig, RejectsBadInput) {
  expect_usage_error("densty = [0.1]\n", "densty: unknown key");
  expect_usage_error("steps = \"many\"\n", "steps: expected an integer");
  expect_usage_error("steps = 1.5\n", "steps: expected an integer");
  expect_usage_error("lr = nan\n", "lr: must be a finite number");
  expect_usage_error("model = \"mlp\"\n", "model: unknown model 'mlp'");
  expect_usage_error("density = [0.5, 0]\n", "density: 0 is not allowed");
  expect_usage_error("features = [\n", "config: ");
  expect_usage_error("[table]\nx = 1\n", "table: unknown key");
  expect_usage_error("importance = 0.7\nimportances = [0.9]\n", "not both");
}

TEST(TomlConfig, MissingFileIsAUsageError) {
  EXPECT_THROW(io::toml_parse_config("/nonexistent/config.toml"), usage_error);
}

TEST(RunDir, ConfigJsonRecordsResolvedSettings) {
  train_config c = preset_config("arena");
  const auto j = io::config_to_json(c);
  EXPECT_EQ(j["preset"], "arena");
  EXPECT_EQ(j["optimizer"], "adam");
  EXPECT_EQ(j["steps"], 5000);
  EXPECT_EQ(j["weight_decay"], 0.0);
  EXPECT_EQ(j["init"], "arena");
}

}  // namespace
}  // namespace tms
