// A run folder: weights.npz (each tensor of the model's table [K, shape...]: W [K][n][m] and b [K][n] of the
// tied models, W_in, W_out, b of abs, b_hidden [K][m] with a hidden bias; then density [K], importance
// [K][n], restart [K]), instances.npz (every per-instance result as a column: instance_table.hpp), optional
// snapshots.npz (step [S], each tensor [S, K, shape...], loss [S][K]) and metrics.json (the resolved
// configuration, what the columns mean, a summary, and the size and CRC-32 of each file beside it).
//
// Writing: one writer per folder (an advisory lock held from before training until the files are in place,
// released by the system when the process dies); every file is written under a temporary name, flushed,
// then renamed, metrics.json last. So a folder holding metrics.json holds a finished run, a failed or
// interrupted run leaves the previous finished run as it was, and a reader can tell from the recorded
// digests whether the weights beside metrics.json are the ones written with it.
//
// Reading: every reader (tms analyze, tms.load) goes through read_run, which trusts nothing in the folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/trainer.hpp"
#include "io/npz.hpp"

namespace tms::io {

inline constexpr int metrics_format_version = 3;  // 3: the per-instance results in instances.npz

// The resolved configuration as written into metrics.json, and back (strict: every key, its type and range;
// throws usage_error naming `field`.KEY).
nlohmann::json config_to_json(const train_config& config);
train_config config_from_json(const nlohmann::json& j, std::string_view field = "config");

// The permission to write one run folder. Creating it creates the folder, checks it can be written, takes
// the folder's lock (refused when another process holds it), refuses a folder that already holds a finished
// run unless `overwrite`, and removes temporary files left by killed writers. Throws usage_error naming
// `field`. The lock is released, and a folder created here is removed again if still empty, on destruction.
class run_dir_claim {
 public:
  run_dir_claim(const std::filesystem::path& dir, bool overwrite, std::string_view field = "out");
  ~run_dir_claim();
  run_dir_claim(const run_dir_claim&) = delete;
  run_dir_claim& operator=(const run_dir_claim&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  int lock_fd_ = -1;
  bool created_ = false;
};

// metrics.json's whole document for a trained run (`files`: the digests of the files beside it).
nlohmann::json run_to_json(const train_config& config, const train_result& result,
                           const nlohmann::json& files = nlohmann::json::object());

// Writes weights.npz, snapshots.npz (when the result has snapshots; a stale one is removed) and metrics.json
// into the claimed folder, as described above. `init_from` (may be empty) is recorded in metrics.json.
void write_run(const run_dir_claim& claim, const train_config& config, const train_result& result,
               const std::string& init_from = "");

// Bytes the writer needs beyond the result (metrics.json's document and text), an estimate that errs high.
std::int64_t run_write_memory_bytes(const train_config& config, std::size_t snapshot_count);

// Refuses (usage_error naming the fields and the estimate) a run whose training and run folder together
// need more than the machine's memory, before anything is allocated.
void check_run_fits(const train_config& config, std::size_t snapshot_count);

// A finished run as read back, every part checked: metrics.json's keys, types, lengths and values against
// its own configuration; the files' sizes and CRC-32s against the digests it records; the arrays' names,
// dtypes and shapes against the configuration; the weights finite.
struct run_folder {
  nlohmann::json metrics;
  train_config config;
  std::int64_t K = 0;
  int n = 0, m = 0;
  model_weights weights;              // K instances of the model's tensors
  std::vector<float> importance;      // [K][n]
  std::vector<double> density;        // [K]
  std::vector<std::int64_t> restart;  // [K]
  std::vector<npy_array> instances;   // instances.npz's columns (instance_table.hpp), checked
  // snapshots.npz, when the run has one
  std::vector<std::int64_t> snapshot_step;  // [S]
  model_weights snapshots;                  // S K instances: snapshot j of instance k is j K + k
  std::vector<double> snapshot_loss;
};
// Throws usage_error "run: ..." naming the file and what is wrong.
run_folder read_run(const std::filesystem::path& dir);

// The run folders directly inside `dir` (those holding metrics.json), sorted: for a message when `dir` is a
// parent of runs rather than a run.
std::vector<std::string> run_folders_inside(const std::filesystem::path& dir);

}  // namespace tms::io
