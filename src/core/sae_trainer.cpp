#include "core/sae_trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "core/adamw.hpp"
#include "core/batch_source.hpp"
#include "core/errors.hpp"
#include "core/kernels/sae_fast.hpp"
#include "core/model.hpp"
#include "core/model_sae.hpp"
#include "core/rng.hpp"

namespace tms {

namespace {

// splitmix64's finaliser: nearby inputs give unrelated outputs, so the SAE streams land far from the toy
// runs' seed + restart and from each other.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

sae_settings training_settings(const sae_config& c, const sae_spec& spec, int m) {
  sae_settings s;
  s.kind = c.kind;
  s.coefficient = spec.coefficient;
  if (sae_coefficient_is_k(c.kind)) {
    s.aux_k = std::min(c.resolved_aux_k(m), spec.width);
    s.aux_coefficient = c.aux_coefficient;
  }
  s.bandwidth = c.bandwidth;
  return s;
}

// The toy model of one instance, frozen, and the scratch of its forward.
struct toy_forward {
  const model_layout* layout = nullptr;
  std::vector<float> params;
  model_workspace<float> ws;
  // Sized once for batches of B from `source`; load() puts an instance's weights in.
  toy_forward(const model_layout& L, const batch_source& source, int B) : layout(&L), params(L.params) {
    ws.reserve(B, L.n, L.m);
    source.prepare(ws.x);
  }
  void load(const model_weights& weights, std::int64_t k) { weights.gather(k, params.data()); }
  // The batch of `step` of `stream` through the model: ws.x the inputs, ws.h [B][m] the activations.
  void run(const batch_source& source, std::uint64_t stream, std::int64_t step, double density) {
    source.fill(ws.x, stream, step, density);
    model_hidden(*layout, params.data(), ws);
  }
};

// The batches of `samples` fresh samples of `stream` through the toy model and SAE `params` (inference
// settings): on_batch(first sample, samples in the batch) after each, with toy.ws.x, toy.ws.h and ws.z,
// ws.h_hat holding it. Batches of B, the last one fewer. What the metrics score and sae_encode returns.
template <class F>
void encode_batches(toy_forward& toy, const batch_source& source, std::uint64_t stream, std::int64_t samples,
                    double density, const sae_layout& L, const float* params, const sae_settings& settings,
                    sae_workspace<float>& ws, F&& on_batch) {
  const kernels::sae_forward_fn forward = kernels::sae_forward_kernel();
  const int B = ws.B;
  for (std::int64_t j = 0; j * B < samples; ++j) {
    toy.ws.x.B = B;
    toy.run(source, stream, j, density);
    const int used = static_cast<int>(std::min<std::int64_t>(B, samples - j * B));
    toy.ws.x.B = used;
    forward(L, params, toy.ws.h.data(), used, settings, ws);
    on_batch(j * B, used);
  }
  toy.ws.x.B = B;
}

// The entries of latent l's parameters (its decoder row, encoder column and per-latent values, not the
// JumpReLU threshold): what a resampling rewrites and whose Adam moments restart.
template <class F>
void for_latent_entries(const sae_layout& L, int l, F&& f) {
  const int m = L.m, d = L.d;
  for (int j = 0; j < m; ++j) f(L.at("W_dec").offset + static_cast<std::size_t>(l) * m + j);
  for (int j = 0; j < m; ++j) f(L.at(L.encoder()).offset + static_cast<std::size_t>(j) * d + l);
  for (const char* name : {"b_enc", "b_gate", "r_mag", "b_mag"})
    if (const tensor_spec* t = L.find(name)) f(t->offset + l);
}

struct sae_job {
  const sae_config* config;
  const batch_source* source;
  const model_layout* toy_layout;
  const model_weights* toy_weights;
  const std::vector<instance_spec>* toy_instances;
  int n, m;
};

struct shared_progress {
  std::atomic<std::int64_t> steps_done{0};
  std::atomic<bool> stop{false};
};

void train_one(const sae_job& job, std::int64_t s, sae_result& out, toy_forward& toy,
               shared_progress& shared) {
  const sae_config& c = *job.config;
  const sae_spec& spec = out.specs[s];
  const int m = job.m, d = spec.width, B = c.batch;
  const sae_layout L = sae_tensors(c.kind, m, d);
  const std::size_t P = L.params;
  const double density = (*job.toy_instances)[spec.toy_instance].density;
  toy.load(*job.toy_weights, spec.toy_instance);

  std::vector<float> params(P), adam_m(P, 0.0f), adam_v(P, 0.0f), grad(P);
  sae_init(params.data(), L, sae_init_seed(c.seed, d, spec.restart), c.initial_threshold);
  sae_workspace<float> ws;
  ws.reserve(B, m, d);
  const sae_settings settings = training_settings(c, spec, m);
  const kernels::sae_step_fn step = kernels::sae_step_kernel();
  const adamw_settings adam{c.beta1, c.beta2, c.eps, 0.0};
  const std::uint64_t data_stream = sae_data_seed(c.seed, spec.restart);
  const philox resample_rng(sae_init_seed(c.seed, d, spec.restart) ^ 0x5A5A5A5A5A5A5A5Aull);

  std::vector<std::int64_t> last_fired(d, 0);  // steps completed when it last fired (0: never yet)
  std::vector<unsigned char> fired(d, 0);
  const int points = std::min(c.steps, c.loss_curve_points);
  double* curve = points ? out.curve_loss.data() + s * points : nullptr;
  const std::int64_t tail_from = c.steps - std::max(1, c.steps / 100);
  double window_sum = 0, tail_sum = 0, threshold = 0;
  int window = 0, window_count = 0;
  std::int64_t resampled = 0;
  std::vector<double> sample_weight(B);  // advanced resampling: per-sample squared loss, squared
  std::vector<double> dir(m);            // a resampled latent's direction

  for (std::int64_t t = 0; t < c.steps; ++t) {
    if (shared.stop.load(std::memory_order_relaxed)) return;
    toy.run(*job.source, data_stream, t, density);
    for (int l = 0; l < d; ++l) ws.dead[l] = t - last_fired[l] >= c.dead_window ? 1 : 0;
    std::fill(grad.begin(), grad.end(), 0.0f);
    const double loss = step(L, grad.data(), params.data(), toy.ws.h.data(), B, settings, ws).total;
    if (!std::isfinite(loss))
      throw run_error("SAE " + std::to_string(s) + " (" + std::string(sae_kind_name(c.kind)) + ", width " +
                      std::to_string(d) + ", coefficient " + std::to_string(spec.coefficient) +
                      "): the loss is not finite at step " + std::to_string(t + 1) + "; try a smaller lr");
    sae_project_decoder_grad(L, grad.data(), params.data());
    adamw_step(params.data(), adam_m.data(), adam_v.data(), grad.data(), P, t + 1, c.lr, adam);
    sae_normalise_decoder(L, params.data());
    std::fill(fired.begin(), fired.end(), 0);
    for (int q = 0; q < B; ++q) {
      const float* zq = ws.z.data() + static_cast<std::size_t>(q) * d;
      for (int l = 0; l < d; ++l) fired[l] |= zq[l] > 0 ? 1 : 0;
    }
    for (int l = 0; l < d; ++l)
      if (fired[l]) last_fired[l] = t + 1;
    if (c.kind == sae_kind::batch_topk)
      threshold = t == 0 ? ws.batch_min_kept
                         : c.threshold_decay * threshold + (1 - c.threshold_decay) * ws.batch_min_kept;

    // Resampling, every resample_every steps (never after the last): the latents silent for dead_window.
    if (c.resample != sae_resample::none && (t + 1) % c.resample_every == 0 && t + 1 < c.steps) {
      const float* h = toy.ws.h.data();
      const float* b_dec = params.data() + L.at("b_dec").offset;
      float* W_enc = params.data() + L.at(L.encoder()).offset;
      float* W_dec = params.data() + L.at("W_dec").offset;
      double live_norm = 0;
      int live = 0;
      for (int l = 0; l < d; ++l) {
        if (t + 1 - last_fired[l] >= c.dead_window) continue;
        double sq = 0;
        for (int j = 0; j < m; ++j) sq += static_cast<double>(W_enc[j * d + l]) * W_enc[j * d + l];
        live_norm += std::sqrt(sq);
        ++live;
      }
      live_norm = live ? live_norm / live : 1.0;
      if (c.resample == sae_resample::advanced) {
        for (int q = 0; q < B; ++q) {
          double sq = 0;
          for (int j = 0; j < m; ++j) {
            const double e =
                ws.h_hat[static_cast<std::size_t>(q) * m + j] - h[static_cast<std::size_t>(q) * m + j];
            sq += e * e;
          }
          sample_weight[q] = sq * sq;
        }
        for (int q = 1; q < B; ++q) sample_weight[q] += sample_weight[q - 1];
      }
      for (int l = 0; l < d; ++l) {
        if (t + 1 - last_fired[l] < c.dead_window) continue;
        const auto u = resample_rng(static_cast<std::uint32_t>(t + 1), static_cast<std::uint32_t>(l), 0,
                                    rng_tag::sae_resample);
        std::fill(dir.begin(), dir.end(), 0.0);
        double scale = c.resample_scale;
        if (c.resample == sae_resample::advanced && sample_weight.back() > 0) {
          // An input drawn with probability proportional to its squared loss, squared.
          const double target = uniform_open0(u[0]) * sample_weight.back();
          const int q = static_cast<int>(
              std::lower_bound(sample_weight.begin(), sample_weight.end(), target) - sample_weight.begin());
          for (int j = 0; j < m; ++j)
            dir[j] = h[static_cast<std::size_t>(std::min(q, B - 1)) * m + j] - b_dec[j];
          scale *= live_norm;
        } else {
          // simple (and advanced with a batch reconstructed exactly): a random direction.
          for (int j = 0; j < m; j += 2) {
            const auto w = resample_rng(static_cast<std::uint32_t>(t + 1), static_cast<std::uint32_t>(l),
                                        static_cast<std::uint32_t>(1 + j / 2), rng_tag::sae_resample);
            const auto z = box_muller(w[0], w[1]);
            dir[j] = z[0];
            if (j + 1 < m) dir[j + 1] = z[1];
          }
        }
        double norm = 0;
        for (double v : dir) norm += v * v;
        norm = std::sqrt(norm);
        if (!(norm > 0)) continue;
        for_latent_entries(L, l, [&](std::size_t e) {
          params[e] = 0;
          adam_m[e] = 0;
          adam_v[e] = 0;
        });
        for (int j = 0; j < m; ++j) {
          W_dec[static_cast<std::size_t>(l) * m + j] = static_cast<float>(dir[j] / norm);
          W_enc[static_cast<std::size_t>(j) * d + l] = static_cast<float>(scale * dir[j] / norm);
        }
        last_fired[l] = t + 1;  // a fresh latent gets a full window before it can be called dead
        ++resampled;
      }
    }

    if (t >= tail_from) tail_sum += loss;
    if (points) {
      window_sum += loss;
      ++window_count;
      if (t + 1 == out.curve_step[window]) {
        curve[window] = window_sum / window_count;
        window_sum = 0;
        window_count = 0;
        ++window;
      }
    }
    shared.steps_done.fetch_add(1, std::memory_order_relaxed);
  }
  out.final_loss[s] = tail_sum / static_cast<double>(c.steps - tail_from);
  out.threshold[s] = threshold;
  out.resampled[s] = resampled;
  out.params[s] = std::move(params);
}

// Scores SAE s on eval_samples fresh activations of its toy instance.
void score_one(const sae_job& job, std::int64_t s, sae_result& out, toy_forward& toy) {
  const sae_config& c = *job.config;
  const sae_spec& spec = out.specs[s];
  const int m = job.m, d = spec.width, B = c.batch;
  const sae_layout L = sae_tensors(c.kind, m, d);
  toy.load(*job.toy_weights, spec.toy_instance);
  const double density = (*job.toy_instances)[spec.toy_instance].density;
  const float* W = job.toy_weights->of(job.toy_layout->embedding, spec.toy_instance);
  const float* params = out.params[s].data();
  sae_scorer scorer(W, job.n, m, params + L.at("W_dec").offset, d);
  sae_workspace<float> ws;
  ws.reserve(B, m, d);
  encode_batches(toy, *job.source, sae_evaluation_seed(c.seed), c.eval_samples, density, L, params,
                 sae_inference_settings(out, s), ws, [&](std::int64_t, int used) {
                   scorer.add(toy.ws.x, toy.ws.h.data(), ws.z.data(), ws.h_hat.data(), used);
                 });
  out.metrics[s] = scorer.finish();
}

void check_instances(const std::vector<instance_spec>& instances) {
  if (instances.empty()) throw usage_error("run: no instances; allowed: a run with at least one");
  for (const auto& inst : instances)
    if (!(inst.density > 0 && inst.density <= 1))
      throw usage_error("instances: a density of " + std::to_string(inst.density) + "; allowed: (0, 1]");
}

}  // namespace

std::uint64_t sae_data_seed(std::uint64_t seed, int restart) {
  return mix(mix(seed ^ 0x5AE0DA7A5AE0DA7Aull) + static_cast<std::uint64_t>(restart));
}
std::uint64_t sae_evaluation_seed(std::uint64_t seed) {
  return mix(seed ^ 0x5AEE7A15AEE7A15Eull);
}
std::uint64_t sae_init_seed(std::uint64_t seed, int width, int restart) {
  return mix(mix(mix(seed ^ 0x5AE1417A5AE1417Aull) + static_cast<std::uint64_t>(width)) +
             static_cast<std::uint64_t>(restart));
}

sae_settings sae_inference_settings(const sae_result& r, std::int64_t s) {
  sae_settings out = training_settings(r.config, r.specs.at(s), r.m);
  out.inference = true;
  out.threshold = r.threshold.at(s);
  out.aux_k = 0;  // AuxK is a training loss only
  return out;
}

sae_result train_saes(const train_config& toy, const model_weights& toy_weights, const sae_config& config,
                      const sae_progress_fn& progress) {
  toy.validate();
  return train_saes(toy, config_instances(toy), toy_weights, config, progress);
}

sae_result train_saes(const train_config& toy, const std::vector<instance_spec>& instances,
                      const model_weights& toy_weights, const sae_config& config,
                      const sae_progress_fn& progress) {
  const auto start = std::chrono::steady_clock::now();
  toy.validate();
  check_instances(instances);
  const model_layout layout = model_tensors(toy);
  const auto K = static_cast<std::int64_t>(instances.size());
  toy_weights.require_fits(layout, K, "run");
  const int n = toy.features, m = toy.hidden;
  config.validate(K);

  sae_result out;
  out.config = config;
  out.m = m;
  out.specs = sae_grid(config, K);
  const std::int64_t S = out.S();
  out.params.resize(S);
  out.final_loss.assign(S, 0.0);
  out.threshold.assign(S, 0.0);
  out.resampled.assign(S, 0);
  out.metrics.resize(S);
  const int points = std::min(config.steps, config.loss_curve_points);
  for (int w = 0; w < points; ++w)
    out.curve_step.push_back(static_cast<std::int64_t>(config.steps) * (w + 1) / points);
  out.curve_loss.assign(static_cast<std::size_t>(S) * points, 0.0);

  const batch_source source(toy);
  const sae_job job{&config, &source, &layout, &toy_weights, &instances, n, m};
  shared_progress shared;
  std::atomic<std::int64_t> next{0};
  std::atomic<int> active{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto worker = [&]() {
    try {
      toy_forward forward(layout, source, config.batch);
      for (std::int64_t s; (s = next.fetch_add(1)) < S;) {
        train_one(job, s, out, forward, shared);
        if (shared.stop.load()) break;
        score_one(job, s, out, forward);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      shared.stop = true;
    }
    --active;
  };
  int threads = config.threads > 0 ? config.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::clamp<std::int64_t>(threads, 1, std::max<std::int64_t>(S, 1)));
  out.threads = threads;
  active = threads;
  std::vector<std::thread> pool;
  bool cancelled = false;
  const std::int64_t total = S * config.steps;
  if (progress) {
    for (int w = 0; w < threads; ++w) pool.emplace_back(worker);
    while (active.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!cancelled && !progress(shared.steps_done.load(), total)) {
        cancelled = true;
        shared.stop = true;
      }
    }
  } else {
    for (int w = 1; w < threads; ++w) pool.emplace_back(worker);
    worker();
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  if (cancelled) throw cancelled_error();
  if (progress) progress(total, total);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

sae_activations sae_encode(const train_config& toy, const std::vector<instance_spec>& instances,
                           const model_weights& toy_weights, const sae_result& r, std::int64_t s,
                           std::int64_t samples, std::uint64_t seed) {
  toy.validate();
  check_instances(instances);
  if (s < 0 || s >= r.S())
    throw usage_error("sae: " + std::to_string(s) + " is out of range; allowed: 0 to " +
                      std::to_string(r.S() - 1));
  const model_layout layout = model_tensors(toy);
  toy_weights.require_fits(layout, static_cast<std::int64_t>(instances.size()), "run");
  if (r.specs[s].toy_instance >= static_cast<std::int64_t>(instances.size()))
    throw usage_error("sae: trained on toy instance " + std::to_string(r.specs[s].toy_instance) +
                      "; allowed: a run with more than " + std::to_string(r.specs[s].toy_instance) +
                      " instances (the one it was trained on)");
  const int n = toy.features, m = toy.hidden, d = r.specs[s].width, B = r.config.batch;
  if (m != r.m)
    throw usage_error("run: hidden size " + std::to_string(m) + "; allowed: the SAEs' input size " +
                      std::to_string(r.m));
  if (samples < 1 || samples > (std::int64_t{1} << 31) / std::max(n, d))
    throw usage_error("samples: " + std::to_string(samples) + " is out of range; allowed: 1 to " +
                      std::to_string((std::int64_t{1} << 31) / std::max(n, d)));
  const sae_layout L = sae_tensors(r.config.kind, m, d);
  const batch_source source(toy);
  toy_forward forward(layout, source, B);
  forward.load(toy_weights, r.specs[s].toy_instance);
  sae_workspace<float> ws;
  ws.reserve(B, m, d);
  sae_activations out;
  out.x.assign(static_cast<std::size_t>(samples) * n, 0.0f);
  out.h.resize(static_cast<std::size_t>(samples) * m);
  out.z.resize(static_cast<std::size_t>(samples) * d);
  out.h_hat.resize(static_cast<std::size_t>(samples) * m);
  encode_batches(
      forward, source, sae_evaluation_seed(seed), samples, instances[r.specs[s].toy_instance].density, L,
      r.params[s].data(), sae_inference_settings(r, s), ws, [&](std::int64_t first_sample, int used) {
        const auto first = static_cast<std::size_t>(first_sample);
        for (int q = 0; q < used; ++q)
          for (int e = forward.ws.x.offset[q]; e < forward.ws.x.offset[q + 1]; ++e)
            out.x[(first + q) * n + forward.ws.x.index[e]] = forward.ws.x.value[e];
        std::copy_n(forward.ws.h.data(), static_cast<std::size_t>(used) * m, out.h.data() + first * m);
        std::copy_n(ws.z.data(), static_cast<std::size_t>(used) * d, out.z.data() + first * d);
        std::copy_n(ws.h_hat.data(), static_cast<std::size_t>(used) * m, out.h_hat.data() + first * m);
      });
  return out;
}

}  // namespace tms
