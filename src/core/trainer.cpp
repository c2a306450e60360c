#include "core/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "core/adamw.hpp"
#include "core/errors.hpp"
#include "core/init.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"

namespace tms {

int curve_points(int steps) {
  return std::min(steps, 200);
}

std::uint64_t instance_stream_seed(const train_config& config, const instance_spec& instance) {
  return config.seed + static_cast<std::uint64_t>(instance.restart);
}

namespace {

// One instance's training state, advanced one step at a time (so a thread can train several in lock-step).
struct instance_state {
  std::int64_t k = 0;
  std::vector<float> params, adam_m, adam_v;  // [P] each
  double* curve = nullptr;                    // [points] this instance's loss curve
  double window_sum = 0, tail_sum = 0;
  int window = 0, window_count = 0;
  std::size_t next_snapshot = 0;
};

// Everything one worker thread needs; allocated once, reused for every group of instances it trains.
struct worker_state {
  kernels::tied_fast_workspace ws;
  std::vector<float> grad;              // [P]
  std::vector<instance_state> running;  // [the largest group so far]
};

struct shared_state {
  std::atomic<std::int64_t> next_group{0};
  std::atomic<std::int64_t> steps_done{0};
  std::atomic<bool> stop{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

void snapshot(instance_state& is, train_result& out, int n, int m, double loss) {
  const std::size_t nm = static_cast<std::size_t>(n) * m, K = out.instances.size(), j = is.next_snapshot;
  std::copy_n(is.params.data(), nm, out.snapshot_W.data() + (j * K + is.k) * nm);
  std::copy_n(is.params.data() + nm, n, out.snapshot_b.data() + (j * K + is.k) * n);
  out.snapshot_loss[j * K + is.k] = loss;
  ++is.next_snapshot;
}

void start_instance(instance_state& is, std::int64_t k, const train_config& c, train_result& out) {
  const int n = c.features, m = c.hidden;
  const std::size_t P = model_param_count(c.model, n, m);
  is.k = k;
  is.params.resize(P);
  is.adam_m.assign(P, 0.0f);
  is.adam_v.assign(P, 0.0f);
  init_params(is.params.data(), c.model, n, m, out.stream_seed[k], out.init_std);
  is.curve = out.curve_loss.data() + k * curve_points(c.steps);
  is.window_sum = is.tail_sum = 0;
  is.window = is.window_count = 0;
  is.next_snapshot = 0;
  if (!out.snapshot_step.empty() && out.snapshot_step[0] == 0) snapshot(is, out, n, m, std::nan(""));
}

void step_instance(instance_state& is, int t, const train_config& c, train_result& out, worker_state& st) {
  const int n = c.features, m = c.hidden, steps = c.steps;
  const instance_spec& inst = out.instances[is.k];
  const std::size_t P = is.params.size();
  const adamw_settings opt{c.beta1, c.beta2, c.eps, c.weight_decay};
  const int points = curve_points(steps);
  const int tail = std::max(1, steps / 100);  // the final loss averages the last 1% of steps

  std::fill(st.grad.begin(), st.grad.end(), 0.0f);
  const double loss =
      kernels::tied_fast_loss_and_grad(c.model, st.grad.data(), is.params.data(), inst.importance.data(),
                                       inst.density, out.stream_seed[is.k], t, st.ws);
  if (!std::isfinite(loss))
    throw run_error("training: the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                    " at step " + std::to_string(t + 1) + " of instance " + std::to_string(is.k) +
                    "; allowed: a finite loss (try a smaller lr)");
  adamw_step(is.params.data(), is.adam_m.data(), is.adam_v.data(), st.grad.data(), P, t + 1,
             c.lr * schedule_factor(c.schedule, t, steps), opt);

  is.window_sum += loss;
  ++is.window_count;
  if (static_cast<std::int64_t>(t + 1) * points / steps > is.window) {  // step t closes window `window`
    is.curve[is.window++] = is.window_sum / is.window_count;
    is.window_sum = 0;
    is.window_count = 0;
  }
  if (t >= steps - tail) is.tail_sum += loss;
  if (is.next_snapshot < out.snapshot_step.size() && out.snapshot_step[is.next_snapshot] == t + 1)
    snapshot(is, out, n, m, loss);
}

void finish_instance(const instance_state& is, const train_config& c, train_result& out) {
  const std::size_t nm = static_cast<std::size_t>(c.features) * c.hidden;
  out.final_loss[is.k] = is.tail_sum / std::max(1, c.steps / 100);
  std::copy_n(is.params.data(), nm, out.W.data() + is.k * nm);
  std::copy_n(is.params.data() + nm, c.features, out.b.data() + is.k * c.features);
}

// Trains a group of instances in lock-step: step t of every member, then step t + 1. Members share a stream
// seed and the Bernoulli sampler, so each step's random words are generated once for the whole group (the
// sampler keeps them) and only converted per member.
void train_group(const std::vector<std::int64_t>& group, const train_config& c, train_result& out,
                 worker_state& st, shared_state& shared) {
  const std::size_t G = group.size();
  if (st.running.size() < G) st.running.resize(G);
  st.ws.sampler.keep_words = G > 1;
  for (std::size_t j = 0; j < G; ++j) start_instance(st.running[j], group[j], c, out);
  for (int t = 0; t < c.steps; ++t) {
    if (shared.stop.load(std::memory_order_relaxed)) return;
    for (std::size_t j = 0; j < G; ++j) step_instance(st.running[j], t, c, out, st);
    shared.steps_done.fetch_add(static_cast<std::int64_t>(G), std::memory_order_relaxed);
  }
  for (std::size_t j = 0; j < G; ++j) finish_instance(st.running[j], c, out);
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
  std::vector<std::uint64_t> seeds;
  std::vector<std::vector<std::int64_t>> by_seed;
  for (std::int64_t k : order) {
    if (choose_sampling(out.instances[k].density, c.features, !c.relative_density.empty()) ==
        sampling_method::binomial) {
      groups.push_back({k});
      continue;
    }
    const auto it = std::find(seeds.begin(), seeds.end(), out.stream_seed[k]);
    if (it == seeds.end()) {
      seeds.push_back(out.stream_seed[k]);
      by_seed.push_back({k});
    } else {
      by_seed[it - seeds.begin()].push_back(k);
    }
  }
  // Sharing pays while a step's words (B n of them) stay near the core, in L2: at n = 400 (1.6 MiB) the
  // groups trained 1-13% faster than alone, at n = 1000 (4 MiB) no faster (the conversion then streams the
  // words from further out, where generating them again costs about as much).
  const bool words_fit = 4.0 * c.batch * c.features <= 2.0 * (1 << 20);
  const double member_bytes = 3.0 * sizeof(float) * model_param_count(c.model, c.features, c.hidden);
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

train_result train(const train_config& config, const progress_fn& progress,
                   const std::vector<std::int64_t>& snapshot_steps) {
  config.validate();
  for (std::int64_t s : snapshot_steps)
    if (s < 0 || s > config.steps)
      throw usage_error("snapshot_steps: " + std::to_string(s) + " is out of range; allowed: steps in [0, " +
                        std::to_string(config.steps) + "]");
  const auto start = std::chrono::steady_clock::now();
  const int n = config.features, m = config.hidden;

  train_result out;
  out.n = n;
  out.m = m;
  out.instances = config_instances(config);
  const std::int64_t K = out.K();
  for (const auto& inst : out.instances) out.stream_seed.push_back(instance_stream_seed(config, inst));
  out.init_std = init_std(config.init, n, m, K);
  out.snapshot_step = snapshot_steps;
  std::sort(out.snapshot_step.begin(), out.snapshot_step.end());
  out.snapshot_step.erase(std::unique(out.snapshot_step.begin(), out.snapshot_step.end()),
                          out.snapshot_step.end());
  const std::size_t S = out.snapshot_step.size();
  out.snapshot_W.assign(S * K * n * m, 0.0f);
  out.snapshot_b.assign(S * K * n, 0.0f);
  out.snapshot_loss.assign(S * K, 0.0);
  out.W.assign(static_cast<std::size_t>(K) * n * m, 0.0f);
  out.b.assign(static_cast<std::size_t>(K) * n, 0.0f);
  out.final_loss.assign(K, 0.0);
  const int points = curve_points(config.steps);
  out.curve_loss.assign(static_cast<std::size_t>(K) * points, 0.0);
  for (int p = 0; p < points; ++p)
    out.curve_step.push_back((static_cast<std::int64_t>(p + 1) * config.steps + points - 1) / points);

  int threads = config.threads > 0 ? config.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  out.threads = threads;
  const int workers = static_cast<int>(std::min<std::int64_t>(threads, K));

  const std::vector<std::vector<std::int64_t>> groups = training_groups(config, out, workers);
  const auto G = static_cast<std::int64_t>(groups.size());

  shared_state shared;
  auto worker = [&]() {
    try {
      worker_state st;
      st.ws.reserve(config.batch, n, m);
      st.ws.sampler.set_relative(config.relative_density);
      st.grad.resize(model_param_count(config.model, n, m));
      while (!shared.stop.load()) {
        const std::int64_t next = shared.next_group.fetch_add(1);
        if (next >= G) break;
        train_group(groups[next], config, out, st, shared);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(shared.error_mutex);
      if (!shared.error) shared.error = std::current_exception();
      shared.stop = true;
    }
  };

  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(worker);
  bool cancelled = false;
  if (progress) {
    // The calling thread reports progress while the workers train.
    std::atomic<bool> done{false};
    std::thread last([&]() {
      worker();
      done = true;
    });
    const train_progress total{0, K * config.steps};
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!cancelled && !progress({shared.steps_done.load(), total.steps_total})) {
        cancelled = true;
        shared.stop = true;
      }
    }
    last.join();
  } else {
    worker();
  }
  for (auto& t : pool) t.join();
  if (shared.error) std::rethrow_exception(shared.error);
  if (cancelled) throw cancelled_error();
  if (progress) progress({K * config.steps, K * config.steps});
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace tms
