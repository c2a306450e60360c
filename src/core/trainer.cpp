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

// Everything one worker thread needs; allocated once, reused for every instance it trains.
struct worker_state {
  kernels::tied_fast_workspace ws;
  std::vector<float> params, grad, adam_m, adam_v;  // [P] each
};

struct shared_state {
  std::atomic<std::int64_t> next_instance{0};
  std::atomic<std::int64_t> steps_done{0};
  std::atomic<bool> stop{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

void train_instance(std::int64_t k, const train_config& c, train_result& out, worker_state& st,
                    shared_state& shared) {
  const int n = c.features, m = c.hidden, steps = c.steps;
  const instance_spec& inst = out.instances[k];
  const std::uint64_t seed = out.stream_seed[k];
  const std::size_t P = model_param_count(c.model, n, m);
  const adamw_settings opt{c.beta1, c.beta2, c.eps, c.weight_decay};
  const int points = curve_points(steps);
  const int tail = std::max(1, steps / 100);  // the final loss averages the last 1% of steps

  init_params(st.params.data(), c.model, n, m, seed, out.init_std);
  std::fill(st.adam_m.begin(), st.adam_m.end(), 0.0f);
  std::fill(st.adam_v.begin(), st.adam_v.end(), 0.0f);

  double* curve = out.curve_loss.data() + k * points;
  double window_sum = 0, tail_sum = 0;
  int window = 0, window_count = 0;
  const std::size_t S = out.snapshot_step.size();
  std::size_t next_snapshot = 0;
  auto snapshot = [&](double loss) {
    const std::size_t nm = static_cast<std::size_t>(n) * m, K = out.instances.size();
    std::copy_n(st.params.data(), nm, out.snapshot_W.data() + (next_snapshot * K + k) * nm);
    std::copy_n(st.params.data() + nm, n, out.snapshot_b.data() + (next_snapshot * K + k) * n);
    out.snapshot_loss[next_snapshot * K + k] = loss;
    ++next_snapshot;
  };
  if (S > 0 && out.snapshot_step[0] == 0) snapshot(std::nan(""));
  for (int t = 0; t < steps; ++t) {
    if (shared.stop.load(std::memory_order_relaxed)) return;
    std::fill(st.grad.begin(), st.grad.end(), 0.0f);
    const double loss = kernels::tied_fast_loss_and_grad(
        c.model, st.grad.data(), st.params.data(), inst.importance.data(), inst.density, seed, t, st.ws);
    if (!std::isfinite(loss))
      throw run_error("training: the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") +
                      " at step " + std::to_string(t + 1) + " of instance " + std::to_string(k) +
                      "; allowed: a finite loss (try a smaller lr)");
    adamw_step(st.params.data(), st.adam_m.data(), st.adam_v.data(), st.grad.data(), P, t + 1,
               c.lr * schedule_factor(c.schedule, t, steps), opt);

    window_sum += loss;
    ++window_count;
    if (static_cast<std::int64_t>(t + 1) * points / steps > window) {  // step t closes window `window`
      curve[window++] = window_sum / window_count;
      window_sum = 0;
      window_count = 0;
    }
    if (t >= steps - tail) tail_sum += loss;
    if (next_snapshot < S && out.snapshot_step[next_snapshot] == t + 1) snapshot(loss);
    shared.steps_done.fetch_add(1, std::memory_order_relaxed);
  }
  out.final_loss[k] = tail_sum / tail;
  std::copy_n(st.params.data(), static_cast<std::size_t>(n) * m, out.W.data() + k * n * m);
  std::copy_n(st.params.data() + static_cast<std::size_t>(n) * m, n, out.b.data() + k * n);
}

}  // namespace

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

  // Denser instances cost more per step; handing them out first keeps the threads busy until the end
  // (longest-first scheduling). The order never changes a result: instances are independent.
  std::vector<std::int64_t> order(K);
  for (std::int64_t k = 0; k < K; ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return out.instances[a].density > out.instances[b].density;
  });

  shared_state shared;
  auto worker = [&]() {
    try {
      worker_state st;
      const std::size_t P = model_param_count(config.model, n, m);
      st.ws.reserve(config.batch, n, m);
      st.ws.sampler.set_relative(config.relative_density);
      st.params.resize(P);
      st.grad.resize(P);
      st.adam_m.resize(P);
      st.adam_v.resize(P);
      while (!shared.stop.load()) {
        const std::int64_t next = shared.next_instance.fetch_add(1);
        if (next >= K) break;
        train_instance(order[next], config, out, st, shared);
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
