// Times tms's training step on one configuration and prints one JSON line:
//   seconds_per_step      median over --reps runs of train() (threads as given) of the mean step time
//   peak_rss_mib          the process's peak resident memory
//   dense_gflops          GFLOP/s of the dense part of the step (the output product pre = W h + b, 2 B n m
//                         flops per instance-step), from a per-phase profile on the trained weights; for
//                         small models (one_pass: true) all five products (10 B n m flops) over the whole
//                         step
//   fma_peak_gflops       the measured fp32 FMA peak of this machine on all threads (independent FMA chains)
//   phase_us              per instance-step: sampling, h = W x, output + loss + gradient, backward products
//   profiled              whether the profile ran: it times the fast kernel (tied_fast), so a run that trains
//                         on the reference path (tied_fast_supports says no) has no profile, and
//                         dense_gflops, phase_us, x_share and g_share are null
// Usage: bench_step --model relu -n 20 -m 5 --density 1,0.3 --importance 0.7 --steps 300 --reps 5 --threads 2
//        (--restarts and --values as in tms train)
#include <immintrin.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/batch_source.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/trainer.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// Independent FMA chains (enough to cover latency x ports), per thread; returns GFLOP/s summed over threads.
__attribute__((target("avx512f"))) double fma_loop_avx512(long iters) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(0.001f * j);
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(0.0001f);
  for (long it = 0; it < iters; ++it)
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  float sink = 0;
  for (int j = 0; j < 16; ++j) sink += _mm512_reduce_add_ps(acc[j]);
  return sink;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(long iters) {
  __m256 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm256_set1_ps(0.001f * j);
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(0.0001f);
  for (long it = 0; it < iters; ++it)
    for (int j = 0; j < 16; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  float sink = 0, lanes[8];
  for (int j = 0; j < 16; ++j) {
    _mm256_storeu_ps(lanes, acc[j]);
    for (float v : lanes) sink += v;
  }
  return sink;
}

double fma_peak(int threads) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  const long iters = 20'000'000;
  std::vector<std::thread> pool;
  std::vector<double> sink(threads);
  const auto t0 = clock_type::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { sink[t] = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters); });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  return threads * iters * 16.0 * lanes * 2 / s / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times the tms training step"};
  tms::train_config c;
  std::string model = "relu", density = "1", importance = "0.7", values;
  int reps = 5, threads = 0;
  bool peak_only = false;
  app.add_option("--model", model);
  app.add_option("-n,--features", c.features);
  app.add_option("-m,--hidden", c.hidden);
  app.add_option("--density", density, "comma list");
  app.add_option("--importance", importance,
                 "comma list of bases (I_i = base^i), one importance axis entry each");
  app.add_option("--restarts", c.restarts);
  app.add_option("--values", values, "uniform or signed; not given: the config's default");
  app.add_option("--batch", c.batch);
  app.add_option("--steps", c.steps);
  app.add_option("--reps", reps);
  app.add_option("--threads", threads);
  app.add_flag("--peak-only", peak_only);
  CLI11_PARSE(app, argc, argv);
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  const double peak = fma_peak(threads);
  if (peak_only) {
    std::printf("{\"fma_peak_gflops\": %.1f, \"threads\": %d}\n", peak, threads);
    return 0;
  }
  c.model = tms::parse_model(model);
  c.density = tms::parse_number_list(density, "density");
  c.importance.clear();
  for (double base : tms::parse_number_list(importance, "importance")) c.importance.push_back({base, {}});
  if (!values.empty()) c.values = tms::parse_values(values);
  c.threads = threads;

  // Mean step time of whole training runs of --steps steps from initialisation (thread start and
  // initialisation included; the earliest steps, before the ReLU outputs turn sparse, are the most
  // expensive).
  std::vector<double> per_step;
  tms::train_result last;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = clock_type::now();
    last = tms::train(c);
    per_step.push_back(std::chrono::duration<double>(clock_type::now() - t0).count() / c.steps);
  }

  // Phase profile on the trained weights, one thread, no updates, instance group by instance group as
  // training hands them out (tms::training_groups): a group's members step in lock-step on one workspace
  // whose sampler keeps each step's words for the next member; an instance alone steps on its own.
  tms::kernels::tied_fast_profile prof;
  const int n = c.features, m = c.hidden;
  double dense_flops = 0, g_share = 0, x_share = 0, kept_share = 0;
  bool one_pass = false;  // small models: the whole step in one pass, timed as the "output" phase
  const bool profiled = tms::kernels::tied_fast_supports(c);
  if (profiled) {
    const std::int64_t K = last.K();
    const std::size_t P = last.weights.layout.params;
    std::vector<float> params(static_cast<std::size_t>(K) * P), grad(P);
    for (std::int64_t k = 0; k < K; ++k) last.weights.gather(k, params.data() + k * P);
    tms::kernels::tied_fast_workspace group, alone;  // the lock-step group's workspace; the others'
    for (auto* w : {&group, &alone}) {
      w->reserve(c.batch, n, m);
      w->profile = &prof;
    }
    group.sampler.keep_words = true;
    const tms::batch_source source(c);
    source.prepare(group);
    source.prepare(alone);
    const int profile_steps = 20;
    auto profile_step = [&](std::int64_t k, int t, tms::kernels::tied_fast_workspace& w) {
      // The batch source's fill is the "sample" phase (it runs outside the kernel, as in training).
      const auto before = std::chrono::steady_clock::now();
      source.fill(w, 99, t, last.instances[k].density);
      prof.sample += std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
      tms::kernels::tied_fast_loss_and_grad(c.model, grad.data(), params.data() + k * P,
                                            last.instances[k].importance.data(), w);
      g_share += static_cast<double>(w.g_nonzero) / (static_cast<double>(n) * c.batch);
      x_share += static_cast<double>(w.last_nnz) / (static_cast<double>(n) * c.batch);
      one_pass = w.last_path == tms::kernels::step_path::small;
      // abs steps its non-empty samples only (the others in closed form): the output product is over those.
      const int through = c.model == tms::model_kind::abs ? w.last_kept : c.batch;
      kept_share += static_cast<double>(through) / c.batch;
      // One pass: all five products (h, output, dh, two for dW) against the whole step; else the output
      // product.
      dense_flops += (one_pass ? 10.0 : 2.0) * through * n * m;
    };
    for (const auto& members :
         tms::training_groups(c, last, static_cast<int>(std::min<std::int64_t>(last.threads, K)))) {
      tms::kernels::tied_fast_workspace& w = members.size() > 1 ? group : alone;
      for (int t = 0; t < profile_steps; ++t)
        for (std::int64_t k : members) profile_step(k, t, w);
    }
  }
  const double steps = static_cast<double>(prof.steps);
  // VmHWM is this program's own high-water mark (getrusage's ru_maxrss also counts the parent's memory at
  // fork).
  double peak_mib = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %lf kB", &peak_mib) == 1) peak_mib /= 1024.0;
    std::fclose(f);
  }
  std::printf("{\"seconds_per_step\": %.9g, \"reps\": [", median(per_step));
  for (std::size_t r = 0; r < per_step.size(); ++r) std::printf("%s%.9g", r ? ", " : "", per_step[r]);
  std::printf("], \"peak_rss_mib\": %.1f, \"fma_peak_gflops\": %.1f, \"threads\": %d, \"batch\": %d, ",
              peak_mib, peak, threads, c.batch);
  if (profiled)
    std::printf(
        "\"profiled\": true, \"dense_gflops\": %.2f, "
        "\"phase_us\": {\"sample\": %.2f, \"h\": %.2f, \"output\": %.2f, \"backward\": %.2f}, "
        "\"x_share\": %.4f, \"g_share\": %.4f, \"kept_share\": %.4f, \"one_pass\": %s, ",
        dense_flops / prof.output / 1e9, prof.sample / steps * 1e6, prof.h / steps * 1e6,
        prof.output / steps * 1e6, prof.backward / steps * 1e6, x_share / steps, g_share / steps,
        kept_share / steps, one_pass ? "true" : "false");
  else
    std::printf(
        "\"profiled\": false, \"dense_gflops\": null, \"phase_us\": null, \"x_share\": null, "
        "\"g_share\": null, \"kept_share\": null, \"one_pass\": false, ");
  std::printf("\"represented\": [");
  const std::vector<float>& embedding = last.weights[last.weights.layout.embedding];  // W, or W_in of abs
  for (std::int64_t k = 0; k < last.K(); ++k) {
    int rep = 0;
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < m; ++j)
        s += double(embedding[(k * n + i) * m + j]) * embedding[(k * n + i) * m + j];
      rep += s > 0.25;
    }
    std::printf("%s%d", k ? ", " : "", rep);
  }
  std::printf("], \"loss\": [");
  for (std::int64_t k = 0; k < last.K(); ++k) std::printf("%s%.9g", k ? ", " : "", last.final_loss[k]);
  std::printf("]}\n");
}
