// The file layer: .npy encoding, atomic writes, and the TOML config (unknown keys, types, garbled files).
#include <gtest/gtest.h>

#include <cstring>

#include <filesystem>
#include <fstream>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "io/atomic_file.hpp"
#include "io/instance_table.hpp"
#include "io/npz.hpp"
#include "io/run_dir.hpp"
#include "io/run_merge.hpp"
#include "io/toml_config.hpp"

#include <unistd.h>
#include <algorithm>

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

namespace tms {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("tms-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  return dir;
}

train_config tiny_config() {
  train_config c;
  c.features = 5;
  c.hidden = 2;
  c.density = {1, 0.2};
  c.steps = 20;
  c.batch = 16;
  return c;
}

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(RunDir, WriteThenReadRoundTripsAndChecksTheDigest) {
  const fs::path dir = fresh_dir("roundtrip");
  const train_config c = tiny_config();
  const train_result r = train(c, {}, {0, 20});
  {
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, c, r);
  }
  const io::run_folder f = io::read_run(dir);
  EXPECT_EQ(f.weights["W"], r.weights["W"]);
  EXPECT_EQ(f.weights["b"], r.weights["b"]);
  EXPECT_EQ(f.snapshot_step, r.snapshot_step);
  EXPECT_EQ(f.snapshots["W"], r.snapshots["W"]);
  EXPECT_EQ(f.config.features, 5);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"instances.npz", "metrics.json", "snapshots.npz", "weights.npz"}));
  // One flipped byte in the weights: caught by the CRC, not read as another model.
  std::string bytes = file_text(dir / "weights.npz");
  bytes[bytes.size() / 2] ^= 0x40;
  std::ofstream(dir / "weights.npz", std::ios::binary) << bytes;
  try {
    io::read_run(dir);
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("CRC-32"), std::string::npos) << e.what();
  }
}

// instances.npz: every column of the table, in order, with the trained values; metrics.json names them; a
// table that is not the configuration's (a column missing, renamed or reshaped, an instance's identity
// changed) is refused with the column named, even with a matching digest.
TEST(RunDir, TheInstanceTableRoundTripsAndIsChecked) {
  const fs::path dir = fresh_dir("columns");
  train_config c = tiny_config();
  c.loss_curve_points = 7;
  const train_result r = train(c);
  {
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, c, r);
  }
  const io::run_folder f = io::read_run(dir);
  const std::vector<io::column_spec> spec = io::instance_columns(c);
  ASSERT_EQ(f.instances.size(), spec.size());
  for (std::size_t j = 0; j < spec.size(); ++j) EXPECT_EQ(f.instances[j].name, spec[j].name);
  EXPECT_EQ(f.metrics["instance_columns"].size(), spec.size());
  auto doubles = [&](const char* name) {
    for (const auto& a : f.instances)
      if (a.name == name) {
        std::vector<double> v(a.bytes.size() / 8);
        std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
        return v;
      }
    return std::vector<double>{};
  };
  EXPECT_EQ(doubles("loss"), r.final_loss);  // exact, not rounded as JSON text would be
  EXPECT_EQ(doubles("loss_curve"), r.curve_loss);
  EXPECT_EQ(r.curve_step.size(), 7u);
  const instance_metrics mt = measure(r.weights.of("W", 1), c.features, c.hidden);
  EXPECT_EQ(doubles("norms")[c.features + 2], mt.norms[2]);
  // A table from another configuration (more curve points) beside this metrics.json: refused by shape.
  train_config more = c;
  more.loss_curve_points = 9;
  const fs::path other = fresh_dir("columns_other");
  {
    io::run_dir_claim claim(other, false);
    io::write_run(claim, more, train(more));
  }
  auto arrays = io::read_npz(other / "instances.npz", "t", 1 << 20);
  try {
    io::check_instance_table(arrays, c, r.K(), 7, "instances.npz");
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("loss_curve is <f8 (2, 9), not <f8 (2, 7)"), std::string::npos)
        << e.what();
  }
  arrays = f.instances;
  arrays[3].bytes[0] ^= 1;  // restart of instance 0
  EXPECT_THROW(io::check_instance_table(arrays, c, r.K(), 7, "x"), usage_error);
  arrays = f.instances;
  arrays.pop_back();
  EXPECT_THROW(io::check_instance_table(arrays, c, r.K(), 7, "x"), usage_error);
  arrays = f.instances;
  arrays[5].name = "lost";
  try {
    io::check_instance_table(arrays, c, r.K(), 7, "x");
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no column 'loss'"), std::string::npos) << e.what();
  }
}

// No loss curve at all (loss_curve_points = 0, for large sweeps): a [K, 0] column, read back.
TEST(RunDir, ARunWithoutLossCurvesRoundTrips) {
  const fs::path dir = fresh_dir("no_curve");
  train_config c = tiny_config();
  c.loss_curve_points = 0;
  const train_result r = train(c);
  EXPECT_TRUE(r.curve_loss.empty());
  EXPECT_TRUE(r.curve_step.empty());
  {
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, c, r);
  }
  const io::run_folder f = io::read_run(dir);
  EXPECT_EQ(f.config.loss_curve_points, 0);
  EXPECT_EQ(f.metrics["config"]["loss_curve_points"], 0);
}

// Shards of one grid, merged, are the grid's own run: every tensor, snapshot, loss, curve and column equal,
// for shard counts that divide the grid, that do not, and that exceed it (empty shards); the shards' bits do
// not depend on their thread counts.
TEST(RunDir, ShardsMergeIntoTheWholeRun) {
  train_config c = tiny_config();
  c.density = {1, 0.3, 0.05};
  c.restarts = 3;  // 9 instances: lock-step groups, a grid that 4 does not divide
  c.steps = 40;
  const std::vector<std::int64_t> snaps = {0, 10, 40};
  const train_result whole = train(c, {}, snaps);
  const fs::path whole_dir = fresh_dir("whole");
  {
    io::run_dir_claim claim(whole_dir, false);
    io::write_run(claim, c, whole);
  }
  const io::run_folder expect = io::read_run(whole_dir);
  for (std::int64_t N : {1, 4, 9, 13}) {
    std::vector<fs::path> shards;
    for (std::int64_t i = N - 1; i >= 0; --i) {  // any order
      train_config s = c;
      s.shard_index = i;
      s.shard_count = N;
      s.threads = 1 + static_cast<int>(i % 2);
      const train_result r = train(s, {}, snaps);
      EXPECT_EQ(r.K(), s.shard_end() - s.shard_first());
      shards.push_back(fresh_dir("shard" + std::to_string(N) + "_" + std::to_string(i)));
      io::run_dir_claim claim(shards.back(), false);
      io::write_run(claim, s, r);
    }
    const fs::path merged = fresh_dir("merged" + std::to_string(N));
    {
      io::run_dir_claim claim(merged, false);
      io::merge_runs(claim, shards);
    }
    const io::run_folder got = io::read_run(merged);
    EXPECT_EQ(got.config.shard_count, 1);
    EXPECT_FALSE(got.metrics["config"].contains("shard_count"));
    for (const std::string& name : got.weights.layout.names()) {
      EXPECT_EQ(got.weights[name], expect.weights[name]) << "N = " << N << ", " << name;
      EXPECT_EQ(got.snapshots[name], expect.snapshots[name]) << "N = " << N << ", " << name;
    }
    ASSERT_EQ(got.snapshot_loss.size(), expect.snapshot_loss.size());  // NaN at step 0: compared as bits
    EXPECT_EQ(
        std::memcmp(got.snapshot_loss.data(), expect.snapshot_loss.data(), got.snapshot_loss.size() * 8), 0)
        << "N = " << N;
    ASSERT_EQ(got.instances.size(), expect.instances.size());
    for (std::size_t j = 0; j < got.instances.size(); ++j)
      EXPECT_EQ(got.instances[j].bytes, expect.instances[j].bytes)
          << "N = " << N << ", " << got.instances[j].name;
  }
}

TEST(RunDir, MergeRefusesWhatIsNotOneGridsShards) {
  train_config c = tiny_config();
  c.restarts = 2;
  auto shard = [&](train_config s, std::int64_t i, std::int64_t N, const std::string& name) {
    s.shard_index = i;
    s.shard_count = N;
    const fs::path dir = fresh_dir(name);
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, s, train(s));
    return dir;
  };
  const fs::path a = shard(c, 0, 2, "ga"), b = shard(c, 1, 2, "gb");
  train_config other = c;
  other.seed = 7;
  const fs::path foreign = shard(other, 1, 2, "gf");
  auto refused = [&](const std::vector<fs::path>& shards, const std::string& fragment) {
    try {
      io::run_dir_claim claim(fresh_dir("gout"), false);
      io::merge_runs(claim, shards);
      FAIL() << "merged: " << fragment;
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  refused({a}, "but 1 folder was given");
  refused({a, a}, "is shard 0 again");
  refused({a, foreign}, "another configuration");
  refused({}, "none given");
}

// Every model's tensors go through the table: abs with a hidden bias writes W_in, W_out, b, b_hidden (and
// their snapshots) and reads them back bit for bit; a result of another model is refused by the writer.
TEST(RunDir, EveryTensorOfTheTableRoundTrips) {
  const fs::path dir = fresh_dir("abs_roundtrip");
  train_config c = tiny_config();
  c.model = model_kind::abs;
  c.values = value_distribution::signed_uniform;
  c.hidden_bias = true;
  const train_result r = train(c, {}, {0, 10});
  {
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, c, r);
  }
  const io::run_folder f = io::read_run(dir);
  EXPECT_TRUE(f.config.hidden_bias);
  EXPECT_EQ(f.weights.layout.names(), (std::vector<std::string>{"W_in", "W_out", "b", "b_hidden"}));
  for (const std::string& name : f.weights.layout.names()) {
    EXPECT_EQ(f.weights[name], r.weights[name]) << name;
    EXPECT_EQ(f.snapshots[name], r.snapshots[name]) << name;
  }
  EXPECT_NE(r.weights["W_in"], r.weights["W_out"]) << "each Xavier tensor draws its own numbers";
  train_config other = c;
  other.model = model_kind::relu_hidden;
  io::run_dir_claim claim(fresh_dir("abs_mismatch"), false);
  EXPECT_THROW(io::write_run(claim, other, r), usage_error);
}

TEST(RunDir, AFinishedRunIsRefusedUnlessOverwriteAndKeptUntilTheNewOneIsWritten) {
  const fs::path dir = fresh_dir("overwrite");
  const train_config c = tiny_config();
  const train_result r = train(c);
  {
    io::run_dir_claim claim(dir, false);
    io::write_run(claim, c, r);
  }
  const std::string before = file_text(dir / "metrics.json");
  EXPECT_THROW(io::run_dir_claim(dir, false), usage_error);
  {
    io::run_dir_claim claim(dir, true);  // claimed for a retrain that then fails: nothing is touched
  }
  EXPECT_EQ(file_text(dir / "metrics.json"), before);
  EXPECT_NO_THROW(io::read_run(dir));
  train_config c2 = c;
  c2.seed = 7;
  const train_result r2 = train(c2);
  {
    io::run_dir_claim claim(dir, true);
    io::write_run(claim, c2, r2);
  }
  EXPECT_EQ(io::read_run(dir).weights["W"], r2.weights["W"]);
}

TEST(RunDir, OneWriterPerFolder) {
  const fs::path dir = fresh_dir("lock");
  io::run_dir_claim first(dir, false);
  try {
    io::run_dir_claim second(dir, false);
    FAIL() << "a second writer must be refused";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("being written by another tms run"), std::string::npos) << e.what();
  }
}

TEST(RunDir, ClaimRemovesTemporariesOfKilledWriters) {
  const fs::path dir = fresh_dir("stale");
  fs::create_directories(dir);
  std::ofstream(dir / "weights.npz.tmp.12345.0") << "left by a killed writer";
  std::ofstream(dir / "metrics.json.tmp.99.3") << "{";
  std::ofstream(dir / "notes.tmp.txt") << "the user's";
  { io::run_dir_claim claim(dir, false); }
  EXPECT_FALSE(fs::exists(dir / "weights.npz.tmp.12345.0"));
  EXPECT_FALSE(fs::exists(dir / "metrics.json.tmp.99.3"));
  EXPECT_TRUE(fs::exists(dir / "notes.tmp.txt"));
  EXPECT_TRUE(io::is_temporary_name("weights.npz.tmp.1.2"));
  EXPECT_FALSE(io::is_temporary_name("weights.npz.tmp"));
  EXPECT_FALSE(io::is_temporary_name("a.tmp.1"));
}

TEST(RunDir, AClaimOnAFolderItCreatedRemovesItWhenNothingWasWritten) {
  const fs::path dir = fresh_dir("created");
  { io::run_dir_claim claim(dir, false); }
  EXPECT_FALSE(fs::exists(dir));
}

TEST(RunDir, ReadersNameWhatIsWrong) {
  const fs::path dir = fresh_dir("bad");
  fs::create_directories(dir);
  auto expect = [&](const std::string& metrics, const std::string& fragment) {
    std::ofstream(dir / "metrics.json") << metrics;
    try {
      io::read_run(dir);
      FAIL() << "accepted: " << metrics;
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  };
  expect("{", "is not valid JSON");
  expect("[]", "is not valid JSON");
  expect(R"({"format_version": "1"})", "has format_version \"1\"");
  expect(R"({"format_version": 1})", "has format_version 1");
  expect(R"({"format_version": 2})", "has format_version 2; allowed: 3");  // before instances.npz
  expect(R"({"format_version": 3})", "tms_version is missing");
  expect(R"({"format_version": 3, "tms_version": "0"})", "config is missing");
  expect(R"({"format_version": 3, "tms_version": "0", "config": 3})", "config is not an object");
  const fs::path parent = fresh_dir("parent");
  fs::create_directories(parent / "a");
  fs::create_directories(parent / "b");
  std::ofstream(parent / "a" / "metrics.json") << "{}";
  std::ofstream(parent / "b" / "metrics.json") << "{}";
  try {
    io::read_run(parent);
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("holds the run folders a, b"), std::string::npos) << e.what();
  }
}

TEST(Npz, ReaderRefusesTruncatedArchives) {
  const fs::path dir = fresh_dir("npz");
  fs::create_directories(dir);
  io::write_npz(dir / "a.npz", {io::npy_f32("W", {2, 3}, std::vector<float>(6, 1.5f))});
  const auto arrays = io::read_npz(dir / "a.npz", "run", 1 << 20);
  ASSERT_EQ(arrays.size(), 1u);
  EXPECT_EQ(arrays[0].name, "W");
  EXPECT_EQ(arrays[0].shape, (std::vector<std::int64_t>{2, 3}));
  const std::string bytes = file_text(dir / "a.npz");
  for (std::size_t keep : {std::size_t{0}, std::size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(dir / "t.npz", std::ios::binary) << bytes.substr(0, keep);
    EXPECT_THROW(io::read_npz(dir / "t.npz", "run", 1 << 20), usage_error) << keep;
  }
  EXPECT_THROW(io::read_npz(dir / "a.npz", "run", 8), usage_error);  // larger than the run allows
  EXPECT_THROW(io::parse_npy_header("{'descr': '<f4', 'shape': (2,), }", "run"), usage_error);
  const auto h = io::parse_npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", "run");
  EXPECT_TRUE(h.shape.empty());
}

TEST(TomlConfig, RelativeDensityAndAFolderAsConfig) {
  const fs::path dir = fresh_dir("toml");
  fs::create_directories(dir);
  write_text(dir, "c.toml", "features = 3\nrelative_density = [0.5, 1, 2]\n");
  auto doc = io::toml_parse_config(dir / "c.toml");
  train_config c;
  io::toml_apply(c, *doc);
  EXPECT_EQ(c.relative_density, (std::vector<double>{0.5, 1, 2}));
  EXPECT_THROW(io::toml_parse_config(dir), usage_error);
}

}  // namespace
}  // namespace tms
