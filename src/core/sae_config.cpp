#include "core/sae_config.hpp"

#include <cmath>
#include <limits>

#include "core/checks.hpp"
#include "core/errors.hpp"
#include "core/rng.hpp"

namespace tms {

using checks::check_int;
using checks::check_real;
using checks::fail;
using checks::fmt;

void sae_config::validate(std::int64_t toy_instances) const {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (toy_instances < 1) fail("run", "the toy run has no instances; allowed: a run with at least one");
  for (std::int64_t k : instances) check_int("instances", k, 0, toy_instances - 1);
  if (widths.empty()) fail("widths", "the list is empty; allowed: one or more widths in [1, 65536]");
  for (int d : widths) check_int("widths", d, 1, 65536);
  if (coefficients.empty()) fail("coefficients", "the list is empty; allowed: one or more sparsity settings");
  for (double c : coefficients) {
    if (sae_coefficient_is_k(kind)) {
      // TopK keeps k latents of each sample; BatchTopK k B of the batch, so its k is a mean and may be
      // fractional (at least one latent per batch).
      const bool whole = kind == sae_kind::topk;
      if (!(std::isfinite(c) && (whole ? c >= 1 && c == std::floor(c) : c * batch >= 1)))
        fail("coefficients",
             fmt(c) + " is not a k for " + std::string(sae_kind_name(kind)) +
                 (whole ? "; allowed: whole numbers of latents per sample, from 1 to the width"
                        : "; allowed: a mean number of latents per sample, k x batch >= 1, up to "
                          "the width"));
      for (int d : widths)
        if (c > d)
          fail("coefficients", "k = " + fmt(c) + " exceeds the width " + std::to_string(d) +
                                   "; allowed: k from 1 to every width");
    } else {
      check_real("coefficients", c, 0, false, inf, true);
    }
  }
  check_int("restarts", restarts, 1, 1000000);
  check_int("steps", steps, 1, 100000000);
  check_int("batch", batch, 1, 1 << 20);
  check_real("lr", lr, 0, true, inf, true);
  check_real("beta1", beta1, 0, false, 1, true);
  check_real("beta2", beta2, 0, false, 1, true);
  check_real("eps", eps, 0, true, inf, true);
  check_int("loss_curve_points", loss_curve_points, 0, 100000);
  check_int("resample_every", resample_every, 1, 100000000);
  check_int("dead_window", dead_window, 1, 100000000);
  check_real("resample_scale", resample_scale, 0, true, inf, true);
  if (resample != sae_resample::none && (kind == sae_kind::topk || kind == sae_kind::batch_topk))
    fail("resample", std::string(sae_resample_name(resample)) + " with " + std::string(sae_kind_name(kind)) +
                         "; allowed: none (TopK families revive dead latents with the AuxK loss)");
  check_int("aux_k", aux_k, 0, 65536);
  check_real("aux_coefficient", aux_coefficient, 0, false, inf, true);
  check_real("initial_threshold", initial_threshold, 0, true, inf, true);
  check_real("bandwidth", bandwidth, 0, true, inf, true);
  check_real("threshold_decay", threshold_decay, 0, false, 1, true);
  check_int("eval_samples", eval_samples, 1, std::int64_t{1} << 32);
  check_int("threads", threads, 0, 4096);
  for (int d : widths)
    if (static_cast<std::int64_t>(d) * batch > (std::int64_t{1} << 30))
      fail("widths", "width " + std::to_string(d) + " x batch " + std::to_string(batch) +
                         " latents per batch exceeds 2^30; allowed: a smaller width or batch");
}

std::vector<sae_spec> sae_grid(const sae_config& c, std::int64_t toy_instances) {
  std::vector<std::int64_t> toys = c.instances;
  if (toys.empty())
    for (std::int64_t k = 0; k < toy_instances; ++k) toys.push_back(k);
  std::vector<sae_spec> out;
  for (std::int64_t k : toys)
    for (std::size_t w = 0; w < c.widths.size(); ++w)
      for (std::size_t j = 0; j < c.coefficients.size(); ++j)
        for (int r = 0; r < c.restarts; ++r)
          out.push_back({k, c.widths[w], c.coefficients[j], r, static_cast<int>(w), static_cast<int>(j)});
  return out;
}

namespace {

void add(sae_layout& L, std::string name, std::vector<int> shape) {
  std::size_t size = 1;
  for (int s : shape) size *= static_cast<std::size_t>(s);
  L.tensors.push_back({std::move(name), std::move(shape), tensor_init::zero, L.params, size});
  L.params += size;
}

}  // namespace

sae_layout sae_tensors(sae_kind kind, int m, int d) {
  sae_layout L;
  L.kind = kind;
  L.m = m;
  L.d = d;
  switch (kind) {
    case sae_kind::relu:
    case sae_kind::topk:
    case sae_kind::batch_topk:
    case sae_kind::jumprelu:
      add(L, "W_enc", {m, d});
      add(L, "b_enc", {d});
      add(L, "W_dec", {d, m});
      add(L, "b_dec", {m});
      if (kind == sae_kind::jumprelu) add(L, "log_threshold", {d});
      break;
    case sae_kind::gated:
      add(L, "W_gate", {m, d});
      add(L, "b_gate", {d});
      add(L, "W_dec", {d, m});
      add(L, "b_dec", {m});
      add(L, "r_mag", {d});
      add(L, "b_mag", {d});
      break;
  }
  return L;
}

const tensor_spec* sae_layout::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const tensor_spec& sae_layout::at(std::string_view name) const {
  if (const tensor_spec* t = find(name)) return *t;
  throw run_error("SAE '" + std::string(sae_kind_name(kind)) + "' has no tensor '" + std::string(name) + "'");
}

void sae_init(float* params, const sae_layout& L, std::uint64_t stream_seed, double initial_threshold) {
  const int m = L.m, d = L.d;
  std::fill_n(params, L.params, 0.0f);
  const philox rng(stream_seed);
  float* W_dec = params + L.at("W_dec").offset;
  float* W_enc = params + L.at(L.encoder()).offset;
  // Row l of W_dec: m standard normals (Box-Muller on the block (l, j)), normalised.
  for (int l = 0; l < d; ++l) {
    float* row = W_dec + static_cast<std::size_t>(l) * m;
    double norm_sq = 0;
    std::vector<double> z(static_cast<std::size_t>(m));
    for (int j = 0; j < m; j += 4) {
      const auto u =
          rng(static_cast<std::uint32_t>(l), static_cast<std::uint32_t>(j / 4), 0, rng_tag::sae_init);
      const auto a = box_muller(u[0], u[1]), b = box_muller(u[2], u[3]);
      const double v[4] = {a[0], a[1], b[0], b[1]};
      for (int q = 0; q < 4 && j + q < m; ++q) z[j + q] = v[q];
    }
    for (int j = 0; j < m; ++j) norm_sq += z[j] * z[j];
    const double inv = 1.0 / std::sqrt(norm_sq);
    for (int j = 0; j < m; ++j) {
      row[j] = static_cast<float>(z[j] * inv);
      W_enc[static_cast<std::size_t>(j) * d + l] = row[j];
    }
  }
  if (const tensor_spec* t = L.find("log_threshold"))
    std::fill_n(params + t->offset, t->size, static_cast<float>(std::log(initial_threshold)));
}

std::string_view sae_kind_name(sae_kind kind) {
  switch (kind) {
    case sae_kind::relu:
      return "relu";
    case sae_kind::topk:
      return "topk";
    case sae_kind::batch_topk:
      return "batch-topk";
    case sae_kind::jumprelu:
      return "jumprelu";
    case sae_kind::gated:
      return "gated";
  }
  return "?";
}

sae_kind parse_sae_kind(std::string_view text, std::string_view field) {
  for (sae_kind k :
       {sae_kind::relu, sae_kind::topk, sae_kind::batch_topk, sae_kind::jumprelu, sae_kind::gated})
    if (text == sae_kind_name(k)) return k;
  fail(field,
       "'" + std::string(text) + "' is not an SAE family; allowed: relu, topk, batch-topk, jumprelu, gated");
}

std::string_view sae_resample_name(sae_resample r) {
  switch (r) {
    case sae_resample::none:
      return "none";
    case sae_resample::simple:
      return "simple";
    case sae_resample::advanced:
      return "advanced";
  }
  return "?";
}

sae_resample parse_sae_resample(std::string_view text, std::string_view field) {
  for (sae_resample r : {sae_resample::none, sae_resample::simple, sae_resample::advanced})
    if (text == sae_resample_name(r)) return r;
  fail(field, "'" + std::string(text) + "' is not a resampling method; allowed: none, simple, advanced");
}

}  // namespace tms
