#include "core/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include "core/adamw.hpp"
#include "core/backend.hpp"
#include "core/errors.hpp"
#include "core/init.hpp"
#include "core/model.hpp"

namespace tms {

int curve_points(const train_config& config) {
  return std::min(config.steps, config.loss_curve_points);
}

std::uint64_t instance_stream_seed(const train_config& config, const instance_spec& instance) {
  return config.seed + static_cast<std::uint64_t>(instance.restart);
}

namespace {

// One instance's training state, advanced one step at a time (so a thread can train several in lock-step).
struct instance_state {
  std::int64_t k = 0;
  std::vector<float> params, adam_m, adam_v;  // [P] each
  std::vector<float> grad;                    // [P] the backend's gradient of the current step
  double* curve = nullptr;                    // [points] this instance's loss curve
  double window_sum = 0, tail_sum = 0;
  int window = 0, window_count = 0;
  std::size_t next_snapshot = 0;
  double callback_sum = 0;  // loss summed since the last on_step
  int callback_count = 0;
};

// Everything one worker thread needs; allocated once, reused for every group of instances it trains.
struct worker_state {
  model_layout layout;                    // the config's tensors (model_tensors), resolved once
  std::unique_ptr<step_backend> backend;  // computes the steps (make_cpu_backend), made once
  std::vector<step_member> members;       // [the largest group so far] the backend's view of a group's step
  std::vector<instance_state> running;    // [the largest group so far]
};

struct shared_state {
  std::atomic<std::int64_t> next_group{0};
  std::atomic<std::int64_t> steps_done{0};
  std::atomic<bool> stop{false};
  std::atomic<int> active{0};  // workers still training
  std::mutex error_mutex;
  std::exception_ptr error;
};

// What a group's members start from and how batches are numbered (train_options, validated).
struct start_spec {
  const model_weights* init = nullptr;  // K instances, or null: init_params
  std::int64_t first_step = 0;
};

void snapshot(instance_state& is, train_result& out, double loss) {
  const std::size_t K = out.instances.size(), j = is.next_snapshot;
  out.snapshots.scatter(static_cast<std::int64_t>(j * K) + is.k, is.params.data());
  out.snapshot_loss[j * K + is.k] = loss;
  ++is.next_snapshot;
}

void start_instance(instance_state& is, std::int64_t k, const train_config& c, train_result& out,
                    const worker_state& st, const start_spec& from) {
  const std::size_t P = st.layout.params;
  is.k = k;
  is.params.resize(P);
  is.adam_m.assign(P, 0.0f);
  is.adam_v.assign(P, 0.0f);
  is.grad.assign(P, 0.0f);
  if (from.init)
    from.init->gather(k, is.params.data());
  else
    init_params(is.params.data(), st.layout, out.stream_seed[k], out.init_std);
  is.curve = out.curve_loss.data() + k * curve_points(c);
  is.window_sum = is.tail_sum = 0;
  is.window = is.window_count = 0;
  is.next_snapshot = 0;
  is.callback_sum = 0;
  is.callback_count = 0;
  if (!out.snapshot_step.empty() && out.snapshot_step[0] == 0) snapshot(is, out, std::nan(""));
}

// The bookkeeping of step t once the backend has computed its loss and gradient (is.grad): the same for
// every backend and model.
void update_instance(instance_state& is, int t, double loss, const train_config& c, train_result& out) {
  const int steps = c.steps;
  const std::size_t P = is.params.size();
  const adamw_settings opt{c.beta1, c.beta2, c.eps, c.weight_decay};
  const int points = curve_points(c);
  const int tail = std::max(1, steps / 100);  // the final loss averages the last 1% of steps

  if (!std::isfinite(loss))
    throw run_error("training: the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                    " at step " + std::to_string(t + 1) + " of instance " + std::to_string(is.k) +
                    "; allowed: a finite loss (try a smaller lr)");
  adamw_step(is.params.data(), is.adam_m.data(), is.adam_v.data(), is.grad.data(), P, t + 1,
             c.lr * schedule_factor(c.schedule, t, steps), opt);

  is.window_sum += loss;
  ++is.window_count;
  is.callback_sum += loss;
  ++is.callback_count;
  if (static_cast<std::int64_t>(t + 1) * points / steps > is.window) {  // step t closes window `window`
    is.curve[is.window++] = is.window_sum / is.window_count;
    is.window_sum = 0;
    is.window_count = 0;
  }
  if (t >= steps - tail) is.tail_sum += loss;
  if (is.next_snapshot < out.snapshot_step.size() && out.snapshot_step[is.next_snapshot] == t + 1)
    snapshot(is, out, loss);
}

// Copies an instance's weights into the result. `complete`: all steps done, the final loss is the mean over
// the last 1%; otherwise (stopped by on_step) the mean since the last callback.
void finish_instance(const instance_state& is, const train_config& c, train_result& out, bool complete,
                     double last_callback_loss) {
  // The loss is checked before each update; the last update can still overflow (a huge lr), and a finished
  // run must never hold non-finite weights.
  for (float v : is.params)
    if (!std::isfinite(v))
      throw run_error("training: the weights of instance " + std::to_string(is.k) +
                      " became non-finite in the last update; allowed: finite weights (try a smaller lr)");
  out.final_loss[is.k] = complete ? is.tail_sum / std::max(1, c.steps / 100) : last_callback_loss;
  out.weights.scatter(is.k, is.params.data());
}

// Steps [t0, t1) of a group of instances in lock-step: step t of every member, then step t + 1. Members share
// a stream seed and the Bernoulli sampler, so each step's random words are generated once for the whole group
// (the sampler keeps them) and only converted per member. Members start at t0 = 0 and finish at t1 = steps.
// When stopped, the members' states are left as they are.
void advance_group(const std::vector<std::int64_t>& group, instance_state* states, int t0, int t1,
                   const train_config& c, train_result& out, worker_state& st, shared_state& shared,
                   const start_spec& from) {
  const std::size_t G = group.size();
  if (t0 == 0)
    for (std::size_t j = 0; j < G; ++j) start_instance(states[j], group[j], c, out, st, from);
  if (st.members.size() < G) st.members.resize(G);
  for (std::size_t j = 0; j < G; ++j) {
    const instance_state& is = states[j];
    const instance_spec& inst = out.instances[is.k];
    st.members[j] = {is.params.data(),      inst.importance.data(), inst.density,
                     out.stream_seed[is.k], states[j].grad.data(),  0.0};
  }
  for (int t = t0; t < t1; ++t) {
    if (shared.stop.load(std::memory_order_relaxed)) return;
    st.backend->step(from.first_step + t, st.members.data(), G);
    for (std::size_t j = 0; j < G; ++j) update_instance(states[j], t, st.members[j].loss, c, out);
    shared.steps_done.fetch_add(static_cast<std::int64_t>(G), std::memory_order_relaxed);
  }
  if (t1 == c.steps)
    for (std::size_t j = 0; j < G; ++j) finish_instance(states[j], c, out, true, 0);
}

}  // namespace

std::vector<std::vector<std::int64_t>> training_groups(const train_config& c, const train_result& out,
                                                       int workers) {
  const std::int64_t K = out.K();
  std::vector<std::int64_t> order(K);  // denser instances first: they cost more per step
  for (std::int64_t k = 0; k < K; ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return out.instances[a].density > out.instances[b].density;
  });
  std::vector<std::vector<std::int64_t>> groups;
  std::unordered_map<std::uint64_t, std::size_t> seed_slot;  // stream seed -> its list in by_seed
  std::vector<std::vector<std::int64_t>> by_seed;
  for (std::int64_t k : order) {
    if (choose_sampling(out.instances[k].density, c.features, !c.relative_density.empty()) ==
        sampling_method::binomial) {
      groups.push_back({k});
      continue;
    }
    const auto [it, fresh] = seed_slot.try_emplace(out.stream_seed[k], by_seed.size());
    if (fresh) by_seed.emplace_back();
    by_seed[it->second].push_back(k);
  }
  // Sharing pays while a step's words (B n of them) stay near the core, in L2: at n = 400 (1.6 MiB) the
  // groups trained 1-13% faster than alone, at n = 1000 (4 MiB) no faster (the conversion then streams the
  // words from further out, where generating them again costs about as much).
  const bool words_fit = 4.0 * c.batch * c.features <= 2.0 * (1 << 20);
  const double member_bytes = 3.0 * sizeof(float) * model_tensors(c).params;
  const auto max_members =
      static_cast<std::int64_t>(std::max(1.0, std::floor(256.0 * (1 << 20) / member_bytes)));
  for (const auto& members : by_seed) {
    const auto count = static_cast<std::int64_t>(members.size());
    const std::int64_t U =
        count < 4 * workers || !words_fit
            ? count
            : std::min<std::int64_t>(
                  count, std::max<std::int64_t>(workers, (count + max_members - 1) / max_members));
    std::vector<std::vector<std::int64_t>> dealt(U);
    for (std::int64_t j = 0; j < count; ++j) {
      const std::int64_t round = j / U, slot = j % U;
      dealt[round % 2 == 0 ? slot : U - 1 - slot].push_back(members[j]);
    }
    for (auto& g : dealt) groups.push_back(std::move(g));
  }
  // Longest first (a group's first member is its densest; binomial instances, the sparsest, come last).
  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) {
    return out.instances[a[0]].density > out.instances[b[0]].density;
  });
  return groups;
}

std::vector<std::int64_t> log_spaced_steps(std::int64_t steps, int count) {
  std::vector<std::int64_t> out;
  if (steps < 1 || count < 1) return out;
  for (int j = 0; j < count; ++j) {
    const double f = count == 1 ? 1.0 : static_cast<double>(j) / (count - 1);
    const auto step = static_cast<std::int64_t>(std::llround(std::pow(static_cast<double>(steps), f)));
    if (out.empty() || step > out.back()) out.push_back(step);
  }
  if (out.back() != steps) out.push_back(steps);
  return out;
}

std::int64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::int64_t>(pages) * page : 0;
}

std::int64_t train_memory_bytes(const train_config& c, std::size_t snapshot_count, bool every_state) {
  const double K = static_cast<double>(c.instance_count()), n = c.features, m = c.hidden, B = c.batch,
               P = static_cast<double>(model_tensors(c).params), points = curve_points(c),
               S = static_cast<double>(snapshot_count);
  const double tiles = std::ceil(B / 16), mp = 16 * std::ceil(m / 16), np = 16 * std::ceil(n / 16);
  const int threads = c.threads > 0 ? c.threads : static_cast<int>(std::thread::hardware_concurrency());
  const double workers = std::min<double>(std::max(1, threads), K);
  // Per instance: its spec (importance [n]), the weights W b, the loss curve, and with snapshots S copies.
  const double per_instance = 4 * n + 96 + 4 * P + 8 * points + 24 + S * (4 * P + 8);
  // Per worker: the tied_fast workspace (tiled X, |X|, Y, H, DH; the sampler's words and written list; the
  // sample-major copies and entry lists of wide models) and the gradient.
  // (The reference path's workspace, for kinds without a kernel, is smaller: dense [B][n] and [B][m] rows
  // and the compressed batch, about 4 B (3 n + 2 m) + 12 B n bytes.)
  const double per_worker = tiles * 16 * (4 * (3 * n + 2 * m) + 8 * n + 8 * n + 2 * n + 4 * (n + 1)) +
                            4 * B * n + 4 * 16 * (n + 1) * (m + 1) + 16 * 4 * np +
                            (m >= 16 ? 4 * (2 * n * mp + 2 * tiles * 16 * mp) : 0) + 4 * P +
                            // adversarial training: the clean batch beside the attacked one, the Gram matrix
                            (c.adversarial_training > 0 ? 8 * B * n + 8 * n * n : 0);
  // Training states (parameters and AdamW's two moments): every instance's with on_step; otherwise the
  // running groups', each capped at 256 MiB by training_groups (but a lock-step group may hold most of K).
  // Each state also holds its step's gradient (4 P floats with the three of params and moments).
  const double all_states = 16 * P * K;
  const double states =
      every_state ? all_states : std::min(all_states, workers * (256.0 * (1 << 20) * 4 / 3 + 16 * P));
  return static_cast<std::int64_t>(std::min(9.0e18, K * per_instance + workers * per_worker + states));
}

namespace {

std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GB", bytes / 1e9);
  return buf;
}

}  // namespace

train_result train(const train_config& config, const progress_fn& progress,
                   const std::vector<std::int64_t>& snapshot_steps) {
  train_options options;
  options.progress = progress;
  options.snapshot_steps = snapshot_steps;
  return train(config, options);
}

train_result train(const train_config& config, const train_options& options) {
  config.validate();
  for (std::int64_t s : options.snapshot_steps)
    if (s < 0 || s > config.steps)
      throw usage_error("snapshot_steps: " + std::to_string(s) + " is out of range; allowed: steps in [0, " +
                        std::to_string(config.steps) + "]");
  if (options.callback_every < 0 || (options.on_step && options.callback_every == 0))
    throw usage_error("callback_every: " + std::to_string(options.callback_every) +
                      " is not allowed; allowed: a positive number of steps");
  if (options.first_step < 0 || options.first_step + config.steps > (std::int64_t{1} << 32) - 1)
    throw usage_error("first_step: " + std::to_string(options.first_step) +
                      " is out of range; allowed: first_step + steps below 2^32");
  const int n = config.features, m = config.hidden;
  const std::int64_t K = config.instance_count();
  const model_layout layout = model_tensors(config);
  const bool from_weights = !options.init.empty();
  if (from_weights) {
    const model_weights& w = options.init;
    w.require_fits(layout, K, "init_from");
    for (const auto& v : w.values)
      for (float x : v)
        if (!std::isfinite(x))
          throw usage_error("init_from: the weights hold non-finite values; allowed: finite weights");
  }
  const bool rounds = static_cast<bool>(options.on_step);
  {
    const std::int64_t need = train_memory_bytes(config, options.snapshot_steps.size() + 1, rounds);
    const std::int64_t limit = options.memory_limit > 0 ? options.memory_limit : physical_memory_bytes();
    if (limit > 0 && need > limit)
      throw usage_error(
          "instances, features, hidden: this run needs about " + gigabytes(static_cast<double>(need)) +
          " of memory (" + std::to_string(K) + " instances of n = " + std::to_string(n) +
          ", m = " + std::to_string(m) + ", batch " + std::to_string(config.batch) + "), more than the " +
          gigabytes(static_cast<double>(limit)) +
          " available; allowed: fewer or smaller instances, a smaller batch or fewer snapshots");
  }
  const auto start = std::chrono::steady_clock::now();

  train_result out;
  out.n = n;
  out.m = m;
  out.instances = config_instances(config);
  for (const auto& inst : out.instances) out.stream_seed.push_back(instance_stream_seed(config, inst));
  // The grid's K, not the shard's: a shard's instances start where the whole run's do.
  out.init_std = init_std(config.init, n, m, config.grid_count()) * config.init_scale;
  out.first_step = options.first_step;
  out.initialised = from_weights;
  out.snapshot_step = options.snapshot_steps;
  std::sort(out.snapshot_step.begin(), out.snapshot_step.end());
  out.snapshot_step.erase(std::unique(out.snapshot_step.begin(), out.snapshot_step.end()),
                          out.snapshot_step.end());
  const std::size_t S = out.snapshot_step.size();
  out.snapshots.assign(layout, static_cast<std::int64_t>(S) * K);
  out.snapshot_loss.assign(S * K, 0.0);
  out.weights.assign(layout, K);
  out.final_loss.assign(K, 0.0);
  const int points = curve_points(config);
  out.curve_loss.assign(static_cast<std::size_t>(K) * points, 0.0);
  for (int p = 0; p < points; ++p)
    out.curve_step.push_back((static_cast<std::int64_t>(p + 1) * config.steps + points - 1) / points);

  int threads = config.threads > 0 ? config.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  const int workers = static_cast<int>(std::min<std::int64_t>(threads, K));
  out.threads = workers;
  out.steps_done = config.steps;
  if (K == 0) {  // an empty shard (more shards than instances): nothing to train
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }

  const std::vector<std::vector<std::int64_t>> groups = training_groups(config, out, workers);
  const auto G = static_cast<std::int64_t>(groups.size());
  start_spec from;
  if (from_weights) from.init = &options.init;
  from.first_step = options.first_step;

  // With on_step, every instance's state lives through the whole run (training pauses at each callback);
  // otherwise a worker keeps only the group it is training.
  std::vector<std::vector<instance_state>> group_states(rounds ? G : 0);
  for (std::int64_t g = 0; g < static_cast<std::int64_t>(group_states.size()); ++g)
    group_states[g].resize(groups[g].size());
  std::vector<worker_state> worker_states(workers);

  shared_state shared;
  // Trains steps [t0, t1) of every group; a worker takes groups until none is left.
  auto run_workers = [&](int t0, int t1) {
    shared.next_group = 0;
    shared.active = workers;
    auto worker = [&, t0, t1](int w) {
      try {
        worker_state& st = worker_states[w];
        if (!st.backend) {
          st.layout = layout;
          st.backend = make_cpu_backend(config);
        }
        while (!shared.stop.load()) {
          const std::int64_t next = shared.next_group.fetch_add(1);
          if (next >= G) break;
          instance_state* states;
          if (rounds) {
            states = group_states[next].data();
          } else {
            if (st.running.size() < groups[next].size()) st.running.resize(groups[next].size());
            states = st.running.data();
          }
          advance_group(groups[next], states, t0, t1, config, out, st, shared, from);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(shared.error_mutex);
        if (!shared.error) shared.error = std::current_exception();
        shared.stop = true;
      }
      --shared.active;
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back(worker, w);
    bool cancelled = false;
    if (static_cast<bool>(options.progress)) {
      // The calling thread reports progress (and polls for Ctrl-C) until every worker is done, not only its
      // own: workers finish at different times.
      std::thread last(worker, 0);
      const double instance_total = static_cast<double>(K) * config.steps;
      while (shared.active.load() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const std::int64_t done = shared.steps_done.load();
        if (!cancelled && !options.progress({done / static_cast<double>(K), config.steps, done,
                                             static_cast<std::int64_t>(instance_total)})) {
          cancelled = true;
          shared.stop = true;
        }
      }
      last.join();
    } else {
      worker(0);
    }
    for (auto& t : pool) t.join();
    if (shared.error) std::rethrow_exception(shared.error);
    if (cancelled) throw cancelled_error();
  };

  out.steps_done = config.steps;
  if (!rounds) {
    run_workers(0, config.steps);
  } else {
    std::vector<double> window_loss(K);
    for (int t0 = 0; t0 < config.steps;) {
      const int t1 =
          static_cast<int>(std::min<std::int64_t>(config.steps, std::int64_t{t0} + options.callback_every));
      run_workers(t0, t1);
      for (std::int64_t g = 0; g < G; ++g)
        for (auto& is : group_states[g]) {
          window_loss[is.k] = is.callback_sum / std::max(1, is.callback_count);
          is.callback_sum = 0;
          is.callback_count = 0;
        }
      t0 = t1;
      if (!options.on_step(t1, window_loss) && t1 < config.steps) {
        // Stopped: the weights as they stand, the curve up to the last complete window.
        for (std::int64_t g = 0; g < G; ++g)
          for (const auto& is : group_states[g]) finish_instance(is, config, out, false, window_loss[is.k]);
        out.steps_done = t1;
        std::size_t kept = 0;
        while (kept < out.curve_step.size() && out.curve_step[kept] <= t1) ++kept;
        std::vector<double> curve(static_cast<std::size_t>(K) * kept);
        for (std::int64_t k = 0; k < K; ++k)
          std::copy_n(out.curve_loss.data() + k * points, kept, curve.data() + k * kept);
        out.curve_loss = std::move(curve);
        out.curve_step.resize(kept);
        std::size_t snaps = 0;
        while (snaps < S && out.snapshot_step[snaps] <= t1) ++snaps;
        out.snapshot_step.resize(snaps);
        out.snapshots.truncate(static_cast<std::int64_t>(snaps) * K);
        out.snapshot_loss.resize(snaps * K);
        break;
      }
    }
  }
  if (options.progress)
    options.progress(
        {static_cast<double>(out.steps_done), config.steps, K * out.steps_done, K * config.steps});
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace tms
