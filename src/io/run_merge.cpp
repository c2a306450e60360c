#include "io/run_merge.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/errors.hpp"

namespace tms::io {

namespace {

// A configuration as JSON without what may differ between the shards of one grid.
nlohmann::json grid_of(const train_config& c) {
  nlohmann::json j = config_to_json(c);
  j.erase("shard_index");
  j.erase("shard_count");
  j.erase("threads");
  return j;
}

template <class T>
void append_column(std::vector<T>& out, const run_folder& f, const char* name) {
  for (const auto& a : f.instances)
    if (a.name == name) {
      const std::vector<T> v = npy_values<T>(a);
      out.insert(out.end(), v.begin(), v.end());
      return;
    }
  throw run_error(std::string("merge: a shard has no column ") + name);
}

}  // namespace

void merge_runs(const run_dir_claim& out, const std::vector<std::filesystem::path>& shards) {
  if (shards.empty())
    throw usage_error("shards: none given; allowed: the run folders of shards 0/N ... N-1/N");
  std::vector<run_folder> read;
  read.reserve(shards.size());
  for (const auto& dir : shards) read.push_back(read_run(dir));
  const auto N = static_cast<std::int64_t>(shards.size());
  // Every shard of one grid, each once, put in shard order.
  std::vector<std::int64_t> order(N, -1);
  const nlohmann::json grid = grid_of(read[0].config);
  for (std::int64_t s = 0; s < N; ++s) {
    const train_config& c = read[s].config;
    const std::string where = "shards: '" + shards[s].string() + "'";
    if (c.shard_count != N)
      throw usage_error(where + " is shard " + std::to_string(c.shard_index) + "/" +
                        std::to_string(c.shard_count) + ", but " + std::to_string(N) +
                        (N == 1 ? " folder was" : " folders were") +
                        " given; allowed: every shard of one grid, each once");
    if (order[c.shard_index] >= 0)
      throw usage_error(where + " is shard " + std::to_string(c.shard_index) + " again (also '" +
                        shards[order[c.shard_index]].string() + "'); allowed: each shard once");
    order[c.shard_index] = s;
    if (grid_of(c) != grid)
      throw usage_error(where + " was trained with another configuration than '" + shards[0].string() +
                        "'; allowed: the shards of one grid");
    for (const char* key : {"steps_done", "first_step", "init_std"})
      if (read[s].metrics["run"][key] != read[0].metrics["run"][key])
        throw usage_error(where + ": run." + key + " disagrees with '" + shards[0].string() +
                          "'; allowed: the shards of one grid, each trained to the end");
    if (read[s].metrics["curve_steps"] != read[0].metrics["curve_steps"] ||
        read[s].snapshot_step != read[0].snapshot_step)
      throw usage_error(where + ": its loss-curve or snapshot steps disagree with '" + shards[0].string() +
                        "'; allowed: the shards of one grid");
    if (read[s].metrics["run"].value("init_from", "") != read[0].metrics["run"].value("init_from", ""))
      throw usage_error(where + ": started from other weights than '" + shards[0].string() + "'");
  }
  train_config c = read[0].config;
  c.shard_index = 0;
  c.shard_count = 1;
  c.threads = read[order[0]].config.threads;
  const model_layout layout = model_tensors(c);
  const std::int64_t K = c.instance_count();

  train_result r;
  r.n = c.features;
  r.m = c.hidden;
  r.instances = config_instances(c);
  for (const auto& inst : r.instances) r.stream_seed.push_back(instance_stream_seed(c, inst));
  r.weights.assign(layout, 0);
  r.weights.values.assign(layout.tensors.size(), {});
  r.curve_step = read[0].metrics["curve_steps"].get<std::vector<std::int64_t>>();
  r.snapshot_step = read[0].snapshot_step;
  const auto S = static_cast<std::int64_t>(r.snapshot_step.size());
  std::vector<std::vector<std::vector<float>>> snapshot_parts(layout.tensors.size(),
                                                              std::vector<std::vector<float>>(S));
  std::vector<std::vector<double>> snapshot_loss_parts(S);
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const run_folder& f = read[order[i]];
    if (f.config.shard_first() != at)
      throw run_error("merge: shard " + std::to_string(i) + " does not start where the previous one ended");
    at += f.K;
    for (std::size_t t = 0; t < layout.tensors.size(); ++t)
      r.weights.values[t].insert(r.weights.values[t].end(), f.weights.values[t].begin(),
                                 f.weights.values[t].end());
    append_column(r.final_loss, f, "loss");
    append_column(r.curve_loss, f, "loss_curve");
    // Snapshot j of instance k is instance j K + k: the shards' instances of each snapshot, in shard order.
    for (std::int64_t j = 0; j < S; ++j) {
      for (std::size_t t = 0; t < layout.tensors.size(); ++t) {
        const std::size_t size = layout.tensors[t].size;
        const auto& v = f.snapshots.values[t];
        snapshot_parts[t][j].insert(snapshot_parts[t][j].end(), v.begin() + j * f.K * size,
                                    v.begin() + (j + 1) * f.K * size);
      }
      snapshot_loss_parts[j].insert(snapshot_loss_parts[j].end(), f.snapshot_loss.begin() + j * f.K,
                                    f.snapshot_loss.begin() + (j + 1) * f.K);
    }
    r.seconds += f.metrics["run"]["seconds"].get<double>();
    r.threads = std::max(r.threads, f.metrics["run"]["threads"].get<int>());
  }
  if (at != K)
    throw run_error("merge: the shards hold " + std::to_string(at) + " of " + std::to_string(K) +
                    " instances");
  r.weights.count = K;
  if (S > 0) {
    r.snapshots.assign(layout, 0);
    r.snapshots.values.assign(layout.tensors.size(), {});
    for (std::size_t t = 0; t < layout.tensors.size(); ++t)
      for (std::int64_t j = 0; j < S; ++j)
        r.snapshots.values[t].insert(r.snapshots.values[t].end(), snapshot_parts[t][j].begin(),
                                     snapshot_parts[t][j].end());
    r.snapshots.count = S * K;
    for (std::int64_t j = 0; j < S; ++j)
      r.snapshot_loss.insert(r.snapshot_loss.end(), snapshot_loss_parts[j].begin(),
                             snapshot_loss_parts[j].end());
  }
  const nlohmann::json& run0 = read[0].metrics["run"];
  r.init_std = run0["init_std"].get<double>();
  r.steps_done = run0["steps_done"].get<std::int64_t>();
  r.first_step = run0["first_step"].get<std::int64_t>();
  const std::string init_from = run0.value("init_from", "");
  r.initialised = !init_from.empty();
  write_run(out, c, r, init_from);
}

}  // namespace tms::io
