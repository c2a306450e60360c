// tms merge: the run folders of the shards of one grid (tms train --shard I/N, every I from 0 to N - 1)
// joined into one run folder, the grid's own run: every instance's weights, loss, loss curve and snapshots as
// its shard trained them (each the same model, bit for bit, as in a run of the whole grid), the measurements
// recomputed from them, the configuration without its shard.
#pragma once

#include <filesystem>
#include <vector>

#include "io/run_dir.hpp"

namespace tms::io {

// Reads every shard (read_run: each checked whole), checks that they are the N shards of one grid (the same
// configuration apart from the shard and the thread count, each index once, the same steps, first step, init
// scale, curve and snapshot steps), then writes the merged run into the claimed folder (write_run). The
// merged run's seconds are the shards' summed, its threads the most any shard used. Throws usage_error naming
// the shard folder and what disagrees.
void merge_runs(const run_dir_claim& out, const std::vector<std::filesystem::path>& shards);

}  // namespace tms::io
