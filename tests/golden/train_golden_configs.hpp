// The training runs of the end-to-end golden (train_golden.py computes them with PyTorch into
// train_golden.json; tests/core/test_train_golden.cpp runs tms::train on each and compares). One list, read
// by both dump_train_inputs.cpp and the test, so the two cannot drift apart. Small and short (20 steps), and
// between them they cover: each lr schedule (constant, linear, cosine), each preset (reference: AdamW with
// decay; arena: Adam) and init scheme (reference, arena, independent), weight decay 0 in AdamW, the linear
// and the ReLU model, densities below 1 (Bernoulli and binomial batches), per-feature densities, restarts,
// a lock-step group (instances sharing their Bernoulli words) and every path of the fast step (the one-pass
// small models, tiles, and a wide model with outer products and listed Bernoulli batches).
#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"

namespace tms::golden {

struct golden_config {
  std::string name;
  train_config config;
};

inline std::vector<golden_config> train_golden_configs() {
  std::vector<golden_config> out;
  auto add = [&](std::string name, const char* preset, model_kind model, int n, int m, int B,
                 std::vector<double> density) -> train_config& {
    train_config c = preset_config(preset);
    c.model = model;
    c.features = n;
    c.hidden = m;
    c.batch = B;
    c.density = std::move(density);
    c.steps = 20;
    c.threads = 1;
    c.seed = 3;
    out.push_back({std::move(name), c});
    return out.back().config;
  };
  // The companion notebook's recipe as it is (AdamW, lr 1e-3, decay 0.01, stacked init, constant lr).
  {
    train_config& c = add("reference_relu", "reference", model_kind::relu_output, 5, 2, 16, {1.0, 0.1});
    c.importance = {importance_spec{0.9, {}}};
  }
  // ARENA: Adam, ARENA's init; the linear model with the linear schedule.
  {
    train_config& c = add("arena_linear_schedule_linear", "arena", model_kind::linear, 7, 3, 33, {0.3});
    c.restarts = 2;
    c.lr = 1e-2;
    c.schedule = lr_schedule::linear;
  }
  // Cosine schedule, independent init, per-feature densities (paper E10).
  {
    train_config& c =
        add("cosine_independent_relative", "reference", model_kind::relu_output, 7, 3, 33, {0.2});
    c.restarts = 2;
    c.lr = 1e-2;
    c.schedule = lr_schedule::cosine;
    c.init = init_scheme::independent;
    c.relative_density = {0.5, 1, 2, 1, 3, 1, 0.25};
  }
  // AdamW with weight decay 0, sparse enough for binomial batches (n = 7, p = 0.02), three restarts.
  {
    train_config& c = add("adamw_no_decay_binomial", "reference", model_kind::relu_output, 7, 3, 33, {0.02});
    c.restarts = 3;
    c.lr = 1e-2;
    c.weight_decay = 0;
    c.importance = {importance_spec{0.8, {}}};
  }
  // Four densities of one stream on one thread: one lock-step group; a strong decay, so it shows.
  {
    train_config& c =
        add("lockstep_group_decay", "reference", model_kind::relu_output, 5, 2, 16, {1.0, 0.5, 0.3, 0.2});
    c.lr = 5e-3;
    c.weight_decay = 0.5;
  }
  // m = 9: the tiled products (not the one-pass small path); arena init with the cosine schedule.
  {
    train_config& c = add("tiles_arena_cosine", "arena", model_kind::linear, 6, 9, 20, {0.5});
    c.lr = 1e-2;
    c.schedule = lr_schedule::cosine;
  }
  // m = 31: a wide model, outer products at p = 1 and (with AVX-512) a listed Bernoulli batch at p = 0.1.
  {
    train_config& c = add("wide_relu", "reference", model_kind::relu_output, 6, 31, 20, {1.0, 0.1});
    c.lr = 1e-2;
    c.schedule = lr_schedule::linear;
  }
  return out;
}

}  // namespace tms::golden
