// A run folder: weights.npz (W [K][n][m], b [K][n], density [K], importance [K][n], restart [K]) and
// metrics.json (the resolved configuration and every measurement per instance). metrics.json is written last,
// so a folder holding it holds a complete run.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/trainer.hpp"

namespace tms::io {

inline constexpr int metrics_format_version = 1;

// The resolved configuration as written into metrics.json.
nlohmann::json config_to_json(const train_config& config);

// metrics.json's whole document for a trained run.
nlohmann::json run_to_json(const train_config& config, const train_result& result);

// Prepares `dir` for a new run: creates it, checks it is writable and removes a previous run's metrics.json,
// so that a failed run never leaves a folder that looks complete. Throws usage_error naming `field`.
void prepare_run_dir(const std::filesystem::path& dir, std::string_view field = "out");

// Writes weights.npz then metrics.json, each atomically.
void write_run(const std::filesystem::path& dir, const train_config& config, const train_result& result);

// Reads metrics.json of a run folder; throws usage_error when it is missing, garbled or of another format.
nlohmann::json read_metrics(const std::filesystem::path& dir);

}  // namespace tms::io
