// tms._tms: the nanobind transcript of the C++ API (src/core, src/io, src/cli), one or two lines per item.
// Nothing here changes a number: keyword arguments, shapes and the Run object live in python/tms/api.py.
//
// Exceptions: usage_error (a std::invalid_argument) reaches Python as ValueError and run_error (a
// std::runtime_error) as RuntimeError, by nanobind's own translation, with the engine's message. A cancelled
// training (Ctrl-C, or a progress callback that returned False or raised) re-raises the Python exception.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_main.hpp"
#include "core/analysis_adversarial.hpp"
#include "core/analysis_geometry.hpp"
#include "core/analysis_loss.hpp"
#include "core/analysis_neurons.hpp"
#include "core/analysis_phase.hpp"
#include "core/analysis_sets.hpp"
#include "core/config.hpp"
#include "core/errors.hpp"
#include "core/evaluate.hpp"
#include "core/metrics.hpp"
#include "core/sae_trainer.hpp"
#include "core/trainer.hpp"
#include "core/version.hpp"
#include "io/run_dir.hpp"
#include "io/run_merge.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <class T>
using array_out = nb::ndarray<nb::numpy, T>;
template <class T>
using array_in = nb::ndarray<const T, nb::c_contig, nb::device::cpu>;

// A NumPy array that owns a copy of `values`, with the given C-order shape.
template <class T>
array_out<T> to_numpy(std::vector<T> values, std::vector<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return array_out<T>(owned->data(), shape.size(), shape.data(), owner);
}

template <class T>
std::vector<T> from_numpy(const array_in<T>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

// One column of instances.npz as a NumPy array of its dtype (read_run has checked names, dtypes, shapes).
template <class T>
nb::object column_as(const tms::io::npy_array& a) {
  std::vector<T> v(a.bytes.size() / sizeof(T));
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  std::vector<std::size_t> shape(a.shape.begin(), a.shape.end());
  return nb::cast(to_numpy(std::move(v), shape));
}

nb::dict columns_to_dict(const std::vector<tms::io::npy_array>& columns) {
  nb::dict out;
  for (const auto& a : columns) {
    if (a.descr == "<f8")
      out[a.name.c_str()] = column_as<double>(a);
    else if (a.descr == "<i8")
      out[a.name.c_str()] = column_as<std::int64_t>(a);
    else if (a.descr == "<u8")
      out[a.name.c_str()] = column_as<std::uint64_t>(a);
    else
      throw tms::run_error("read_run: column " + a.name + " has dtype " + a.descr);
  }
  return out;
}

// The tensors of `w` as a dict name -> array [lead..., shape...] (copies), in table order.
nb::dict weights_to_dict(const tms::model_weights& w, std::vector<std::size_t> lead,
                         const std::string& prefix = "") {
  nb::dict out;
  for (std::size_t j = 0; j < w.layout.tensors.size(); ++j) {
    std::vector<std::size_t> shape = lead;
    for (int d : w.layout.tensors[j].shape) shape.push_back(static_cast<std::size_t>(d));
    out[(prefix + w.layout.tensors[j].name).c_str()] = to_numpy(w.values[j], shape);
  }
  return out;
}

// `count` instances of the config's tensors from a dict name -> float32 array [lead..., shape...]: every
// tensor of the table, no other, each of its shape. Throws usage_error naming `field`.
tms::model_weights weights_from_dict(const tms::train_config& config, std::int64_t count, nb::dict d,
                                     const std::vector<std::int64_t>& lead, const std::string& field) {
  tms::model_weights w;
  w.assign(tms::model_tensors(config), count);
  std::string names;
  for (const auto& t : w.layout.tensors) names += (names.empty() ? "" : ", ") + t.name;
  if (d.size() != w.layout.tensors.size())
    throw tms::usage_error(field + ": " + std::to_string(d.size()) +
                           " arrays; allowed: exactly the model's " + names);
  for (std::size_t j = 0; j < w.layout.tensors.size(); ++j) {
    const auto& t = w.layout.tensors[j];
    if (!d.contains(t.name.c_str()))
      throw tms::usage_error(field + ": no array '" + t.name + "'; allowed: the model's " + names);
    const auto a = nb::cast<array_in<float>>(d[t.name.c_str()]);
    std::vector<std::int64_t> shape = lead;
    for (int x : t.shape) shape.push_back(x);
    bool same = a.ndim() == shape.size();
    for (std::size_t q = 0; same && q < shape.size(); ++q)
      same = static_cast<std::int64_t>(a.shape(q)) == shape[q];
    if (!same)
      throw tms::usage_error(field + ": '" + t.name +
                             "' has the wrong shape; allowed: the config's instances and sizes");
    w.values[j] = from_numpy(a);
  }
  return w;
}

// W as [n][m] (one row per feature, the paper's W_i).
std::pair<int, int> check_W(const array_in<float>& W) {
  if (W.ndim() != 2) throw std::invalid_argument("W: expected a 2-D array [features, hidden]");
  return {static_cast<int>(W.shape(0)), static_cast<int>(W.shape(1))};
}

std::size_t curve_len(const tms::train_result& r) {
  return r.curve_step.size();
}

// The writer indexes W, b and the curves by K, n, m and P; a result assembled in Python must agree with them.
void check_result(const tms::train_result& r) {
  const auto K = static_cast<std::size_t>(r.K()), n = static_cast<std::size_t>(r.n),
             m = static_cast<std::size_t>(r.m);
  bool tensors = r.weights.count == r.K() && r.weights.layout.n == r.n && r.weights.layout.m == r.m &&
                 r.snapshots.count == static_cast<std::int64_t>(r.snapshot_step.size()) * r.K();
  for (std::size_t j = 0; tensors && j < r.weights.values.size(); ++j)
    tensors = r.weights.values[j].size() == K * r.weights.layout.tensors[j].size;
  if (!tensors || r.final_loss.size() != K || r.stream_seed.size() != K ||
      r.curve_loss.size() != K * curve_len(r))
    throw std::invalid_argument("result: array sizes do not match K=" + std::to_string(K) +
                                ", n=" + std::to_string(n) + ", m=" + std::to_string(m));
  for (const auto& inst : r.instances)
    if (inst.importance.size() != n)
      throw std::invalid_argument("result: an instance's importance does not have n entries");
}

// Trains with the GIL released. Python callables are called with the GIL taken back; an exception they raise
// (or Ctrl-C, seen by PyErr_CheckSignals) cancels training and is re-raised here.
tms::train_result train_with_signals(const tms::train_config& config, nb::object progress,
                                     const std::vector<std::int64_t>& snapshot_steps, nb::object init,
                                     std::int64_t first_step, int callback_every, nb::object on_step) {
  tms::train_options options;
  options.snapshot_steps = snapshot_steps;
  options.first_step = first_step;
  if (!init.is_none())
    options.init = weights_from_dict(config, config.instance_count(), nb::cast<nb::dict>(init),
                                     {config.instance_count()}, "init_from");
  tms::train_result result;
  bool cancelled = false;
  {
    nb::gil_scoped_release release;
    options.progress = [&](const tms::train_progress& p) -> bool {
      nb::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) return false;  // e.g. KeyboardInterrupt, now pending
      if (progress.is_none()) return true;
      try {
        nb::object keep_going = progress(p.steps_done, p.steps_total);
        return keep_going.is_none() || nb::cast<bool>(keep_going);
      } catch (nb::python_error& e) {
        e.restore();
        return false;
      }
    };
    if (!on_step.is_none()) {
      options.callback_every = callback_every;
      options.on_step = [&](std::int64_t step, const std::vector<double>& loss) -> bool {
        nb::gil_scoped_acquire acquire;
        if (PyErr_CheckSignals() != 0) {
          cancelled = true;
          return false;
        }
        try {
          nb::object keep_going = on_step(step, to_numpy(loss, {loss.size()}));
          return keep_going.is_none() || nb::cast<bool>(keep_going);
        } catch (nb::python_error& e) {
          e.restore();
          cancelled = true;
          return false;
        }
      };
    }
    try {
      result = tms::train(config, options);
    } catch (const tms::cancelled_error&) {
      cancelled = true;
    }
  }
  if (PyErr_Occurred()) throw nb::python_error();
  if (cancelled) {
    PyErr_SetString(PyExc_KeyboardInterrupt, "training cancelled by the progress callback");
    throw nb::python_error();
  }
  return result;
}

// Trains the SAEs with the GIL released, progress as train_with_signals.
tms::sae_result train_saes_with_signals(const tms::train_config& toy,
                                        const std::vector<tms::instance_spec>& instances,
                                        const tms::model_weights& weights, const tms::sae_config& config,
                                        nb::object progress) {
  tms::sae_result result;
  bool cancelled = false;
  {
    nb::gil_scoped_release release;
    const tms::sae_progress_fn report = [&](std::int64_t done, std::int64_t total) -> bool {
      nb::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) return false;
      if (progress.is_none()) return true;
      try {
        nb::object keep_going = progress(done, total);
        return keep_going.is_none() || nb::cast<bool>(keep_going);
      } catch (nb::python_error& e) {
        e.restore();
        return false;
      }
    };
    try {
      result = tms::train_saes(toy, instances, weights, config, report);
    } catch (const tms::cancelled_error&) {
      cancelled = true;
    }
  }
  if (PyErr_Occurred()) throw nb::python_error();
  if (cancelled) {
    PyErr_SetString(PyExc_KeyboardInterrupt, "SAE training cancelled by the progress callback");
    throw nb::python_error();
  }
  return result;
}

// One SAE's tensors as a dict name -> array of its shape.
nb::dict sae_params_to_dict(const tms::sae_layout& L, const std::vector<float>& params) {
  nb::dict out;
  for (const auto& t : L.tensors) {
    std::vector<std::size_t> shape(t.shape.begin(), t.shape.end());
    out[t.name.c_str()] =
        to_numpy(std::vector<float>(params.begin() + t.offset, params.begin() + t.offset + t.size), shape);
  }
  return out;
}

std::vector<float> sae_params_from_dict(const tms::sae_layout& L, nb::dict d) {
  std::vector<float> params(L.params);
  std::string names;
  for (const auto& t : L.tensors) names += (names.empty() ? "" : ", ") + t.name;
  if (d.size() != L.tensors.size())
    throw tms::usage_error("params: " + std::to_string(d.size()) + " arrays; allowed: exactly the SAE's " +
                           names);
  for (const auto& t : L.tensors) {
    if (!d.contains(t.name.c_str()))
      throw tms::usage_error("params: no array '" + t.name + "'; allowed: " + names);
    const auto a = nb::cast<array_in<float>>(d[t.name.c_str()]);
    if (a.size() != t.size) throw tms::usage_error("params: '" + t.name + "' has the wrong size");
    std::copy_n(a.data(), t.size, params.begin() + t.offset);
  }
  return params;
}

nb::dict sae_result_to_dict(const tms::sae_result& r, int n) {
  const auto S = static_cast<std::size_t>(r.S());
  const auto column = [&](auto get, auto zero) {
    std::vector<decltype(zero)> v(S);
    for (std::size_t s = 0; s < S; ++s) v[s] = static_cast<decltype(zero)>(get(s));
    return to_numpy(std::move(v), {S});
  };
  nb::dict specs;
  specs["toy_instance"] = column([&](std::size_t s) { return r.specs[s].toy_instance; }, std::int64_t{});
  specs["width"] = column([&](std::size_t s) { return r.specs[s].width; }, std::int64_t{});
  specs["coefficient"] = column([&](std::size_t s) { return r.specs[s].coefficient; }, double{});
  specs["restart"] = column([&](std::size_t s) { return r.specs[s].restart; }, std::int64_t{});
  specs["width_index"] = column([&](std::size_t s) { return r.specs[s].width_index; }, std::int64_t{});
  specs["coefficient_index"] =
      column([&](std::size_t s) { return r.specs[s].coefficient_index; }, std::int64_t{});
  nb::list params, latents;
  for (std::size_t s = 0; s < S; ++s) {
    const tms::sae_layout L = tms::sae_tensors(r.config.kind, r.m, r.specs[s].width);
    params.append(sae_params_to_dict(L, r.params[s]));
    const tms::sae_metrics& q = r.metrics[s];
    const auto d = static_cast<std::size_t>(r.specs[s].width);
    nb::dict lat;
    lat["feature"] =
        to_numpy(std::vector<std::int64_t>(q.latent_feature.begin(), q.latent_feature.end()), {d});
    lat["precision"] = to_numpy(q.latent_precision, {d});
    lat["recall"] = to_numpy(q.latent_recall, {d});
    lat["frequency"] = to_numpy(q.latent_frequency, {d});
    latents.append(lat);
  }
  nb::dict metrics;
  const auto metric = [&](const char* name, auto get, auto zero) {
    metrics[name] = column([&](std::size_t s) { return get(r.metrics[s]); }, zero);
  };
  using M = tms::sae_metrics;
  metric(
      "represented", [](const M& q) { return q.represented; }, std::int64_t{});
  metric(
      "mmcs", [](const M& q) { return q.mmcs; }, double{});
  metric(
      "matched_cosine", [](const M& q) { return q.matched_cosine; }, double{});
  metric(
      "recovered", [](const M& q) { return q.recovered; }, std::int64_t{});
  metric(
      "mcc", [](const M& q) { return q.mcc; }, double{});
  metric(
      "l0", [](const M& q) { return q.l0; }, double{});
  metric(
      "dead", [](const M& q) { return q.dead; }, std::int64_t{});
  metric(
      "mse", [](const M& q) { return q.mse; }, double{});
  metric(
      "explained_variance", [](const M& q) { return q.explained_variance; }, double{});
  metric(
      "reconstruction_bias", [](const M& q) { return q.reconstruction_bias; }, double{});
  metric(
      "precision", [](const M& q) { return q.precision; }, double{});
  metric(
      "recall", [](const M& q) { return q.recall; }, double{});
  metric(
      "absorption", [](const M& q) { return q.absorption; }, double{});
  metric(
      "absorbed", [](const M& q) { return q.absorbed; }, std::int64_t{});
  metric(
      "split", [](const M& q) { return q.split; }, std::int64_t{});
  const auto per_feature = [&](auto get, auto zero) {
    std::vector<decltype(zero)> v(S * n);
    for (std::size_t s = 0; s < S; ++s)
      for (int i = 0; i < n; ++i) v[s * n + i] = static_cast<decltype(zero)>(get(r.metrics[s])[i]);
    return to_numpy(std::move(v), {S, static_cast<std::size_t>(n)});
  };
  nb::dict features;
  features["latent"] = per_feature([](const M& q) { return q.feature_latent; }, std::int64_t{});
  features["cosine"] = per_feature([](const M& q) { return q.feature_cosine; }, double{});
  features["max_cosine"] = per_feature([](const M& q) { return q.feature_max_cosine; }, double{});
  features["absorption"] = per_feature([](const M& q) { return q.feature_absorption; }, double{});
  features["detectors"] = per_feature([](const M& q) { return q.feature_detectors; }, std::int64_t{});
  nb::dict out;
  out["specs"] = specs;
  out["params"] = params;
  out["metrics"] = metrics;
  out["features"] = features;
  out["latents"] = latents;
  out["final_loss"] = to_numpy(r.final_loss, {S});
  out["threshold"] = to_numpy(r.threshold, {S});
  out["resampled"] = to_numpy(r.resampled, {S});
  out["curve_steps"] = to_numpy(r.curve_step, {r.curve_step.size()});
  out["curve_loss"] = to_numpy(r.curve_loss, {S, r.curve_step.size()});
  out["seconds"] = r.seconds;
  out["threads"] = r.threads;
  return out;
}

int cli_main_argv(const std::vector<std::string>& argv) {
  std::vector<const char*> pointers;
  for (const auto& a : argv) pointers.push_back(a.c_str());
  nb::gil_scoped_release release;
  const int status =
      tms::cli::cli_main(static_cast<int>(pointers.size()), pointers.data(), "reproduce, sweep");
  std::cout.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  return status;
}

}  // namespace

// The science constants (thresholds of the classifiers), python/src/science.cpp.
void bind_science(nb::module_& m);

NB_MODULE(_tms, m) {
  m.doc() = "tms C++ core (train, measure, run folders, the tms command line); use the tms package instead";
  m.attr("__version__") = tms::version;
  m.attr("represented_norm") = tms::represented_norm;
  bind_science(m);

  nb::enum_<tms::model_kind>(m, "ModelKind")
      .value("linear", tms::model_kind::linear)
      .value("relu_output", tms::model_kind::relu_output)
      .value("relu_hidden", tms::model_kind::relu_hidden)
      .value("abs", tms::model_kind::abs);
  m.def("default_values", &tms::default_values, "model"_a);
  m.def(
      "model_tensors",
      [](tms::model_kind kind, int n, int m_, bool hidden_bias) {
        nb::list out;
        for (const auto& t : tms::model_tensors(kind, n, m_, hidden_bias).tensors)
          out.append(nb::make_tuple(t.name, t.shape));
        return out;
      },
      "model"_a, "n"_a, "m"_a, "hidden_bias"_a = false,
      "The model's table of tensors (model_tensors.hpp): [(name, shape per instance)] in order.");
  m.def(
      "model_embedding", [](tms::model_kind kind) { return tms::model_tensors(kind, 1, 1).embedding; },
      "model"_a, "The tensor whose row i is feature i's direction in the hidden space (W, or W_in of abs).");
  nb::enum_<tms::lr_schedule>(m, "LrSchedule")
      .value("constant", tms::lr_schedule::constant)
      .value("linear", tms::lr_schedule::linear)
      .value("cosine", tms::lr_schedule::cosine);
  nb::enum_<tms::value_distribution>(m, "ValueDistribution")
      .value("uniform", tms::value_distribution::uniform)
      .value("signed_uniform", tms::value_distribution::signed_uniform);
  m.def(
      "parse_values", [](const std::string& t, const std::string& f) { return tms::parse_values(t, f); },
      "text"_a, "field"_a = "values");
  nb::enum_<tms::data_kind>(m, "DataKind")
      .value("independent", tms::data_kind::independent)
      .value("correlated", tms::data_kind::correlated)
      .value("anticorrelated", tms::data_kind::anticorrelated);
  nb::enum_<tms::set_density>(m, "SetDensity")
      .value("set", tms::set_density::set)
      .value("feature", tms::set_density::feature);
  m.def(
      "parse_data", [](const std::string& t, const std::string& f) { return tms::parse_data(t, f); },
      "text"_a, "field"_a = "data");
  m.def(
      "parse_set_density",
      [](const std::string& t, const std::string& f) { return tms::parse_set_density(t, f); }, "text"_a,
      "field"_a = "density_of");
  m.def("check_set_options", &tms::check_set_options, "config"_a, "set_size_given"_a, "density_of_given"_a);
  m.def("marginal_density", &tms::marginal_density, "config"_a, "density"_a, "feature"_a);
  nb::enum_<tms::init_scheme>(m, "InitScheme")
      .value("reference", tms::init_scheme::reference)
      .value("arena", tms::init_scheme::arena)
      .value("independent", tms::init_scheme::independent);

  m.def("model_name", [](tms::model_kind k) { return std::string(tms::model_name(k)); });
  m.def("schedule_name", [](tms::lr_schedule s) { return std::string(tms::schedule_name(s)); });
  m.def("init_name", [](tms::init_scheme i) { return std::string(tms::init_name(i)); });
  m.def(
      "parse_model", [](const std::string& t, const std::string& f) { return tms::parse_model(t, f); },
      "text"_a, "field"_a = "model");
  m.def(
      "parse_schedule", [](const std::string& t, const std::string& f) { return tms::parse_schedule(t, f); },
      "text"_a, "field"_a = "schedule");
  m.def(
      "parse_init", [](const std::string& t, const std::string& f) { return tms::parse_init(t, f); },
      "text"_a, "field"_a = "init");

  nb::class_<tms::importance_spec>(m, "ImportanceSpec")
      .def(nb::init<>())
      .def_rw("base", &tms::importance_spec::base)
      .def_rw("values", &tms::importance_spec::values);

  nb::class_<tms::train_config>(m, "TrainConfig")
      .def(nb::init<>())
      .def_rw("preset", &tms::train_config::preset)
      .def_rw("model", &tms::train_config::model)
      .def_rw("features", &tms::train_config::features)
      .def_rw("hidden", &tms::train_config::hidden)
      .def_rw("density", &tms::train_config::density)
      .def_rw("importance", &tms::train_config::importance)
      .def_rw("restarts", &tms::train_config::restarts)
      .def_rw("relative_density", &tms::train_config::relative_density)
      .def_rw("steps", &tms::train_config::steps)
      .def_rw("batch", &tms::train_config::batch)
      .def_rw("loss_curve_points", &tms::train_config::loss_curve_points)
      .def_rw("lr", &tms::train_config::lr)
      .def_rw("schedule", &tms::train_config::schedule)
      .def_rw("beta1", &tms::train_config::beta1)
      .def_rw("beta2", &tms::train_config::beta2)
      .def_rw("eps", &tms::train_config::eps)
      .def_rw("weight_decay", &tms::train_config::weight_decay)
      .def_rw("l1", &tms::train_config::l1)
      .def_rw("values", &tms::train_config::values)
      .def_rw("hidden_bias", &tms::train_config::hidden_bias)
      .def_rw("data", &tms::train_config::data)
      .def_rw("set_size", &tms::train_config::set_size)
      .def_rw("density_of", &tms::train_config::density_of)
      .def_rw("init", &tms::train_config::init)
      .def_rw("init_scale", &tms::train_config::init_scale)
      .def_rw("adversarial_samples", &tms::train_config::adversarial_samples)
      .def_rw("adversarial_training", &tms::train_config::adversarial_training)
      .def_rw("seed", &tms::train_config::seed)
      .def_rw("threads", &tms::train_config::threads)
      .def_rw("shard_index", &tms::train_config::shard_index)
      .def_rw("shard_count", &tms::train_config::shard_count)
      .def("validate", &tms::train_config::validate)
      .def("warnings", &tms::train_config::warnings)
      .def("instance_count", &tms::train_config::instance_count);

  m.def(
      "preset_config", [](const std::string& name) { return tms::preset_config(name); }, "name"_a);
  m.def("preset_names", &tms::preset_names);
  m.def("importance_values", &tms::importance_values, "spec"_a, "n"_a);

  nb::class_<tms::instance_spec>(m, "InstanceSpec")
      .def(nb::init<>())
      .def_rw("density", &tms::instance_spec::density)
      .def_rw("importance", &tms::instance_spec::importance)
      .def_rw("density_index", &tms::instance_spec::density_index)
      .def_rw("importance_index", &tms::instance_spec::importance_index)
      .def_rw("restart", &tms::instance_spec::restart);
  m.def("config_instances", &tms::config_instances, "config"_a);
  m.def("instance_stream_seed", &tms::instance_stream_seed, "config"_a, "instance"_a);

  // W, b and the loss curves as NumPy arrays (copies) in the shapes the run folder uses.
  nb::class_<tms::train_result>(m, "TrainResult")
      .def(nb::init<>())
      .def_rw("n", &tms::train_result::n)
      .def_rw("m", &tms::train_result::m)
      .def_rw("instances", &tms::train_result::instances)
      .def_rw("stream_seed", &tms::train_result::stream_seed)
      .def_rw("final_loss", &tms::train_result::final_loss)
      .def_rw("curve_step", &tms::train_result::curve_step)
      .def_rw("init_std", &tms::train_result::init_std)
      .def_rw("threads", &tms::train_result::threads)
      .def_rw("seconds", &tms::train_result::seconds)
      .def_rw("steps_done", &tms::train_result::steps_done)
      .def_rw("first_step", &tms::train_result::first_step)
      .def_rw("snapshot_step", &tms::train_result::snapshot_step)
      .def_prop_ro("K", &tms::train_result::K)
      .def_prop_ro("weights",
                   [](const tms::train_result& r) {
                     return weights_to_dict(r.weights, {static_cast<std::size_t>(r.K())});
                   })
      .def(
          "set_weights",
          [](tms::train_result& r, const tms::train_config& c, nb::dict d) {
            r.weights = weights_from_dict(c, r.K(), d, {r.K()}, "weights");
          },
          "config"_a, "weights"_a, "Sets every tensor [K, shape...] (the result's instances set first).")
      .def_prop_rw(
          "curve_loss",
          [](const tms::train_result& r) {
            return to_numpy(r.curve_loss, {static_cast<std::size_t>(r.K()), curve_len(r)});
          },
          [](tms::train_result& r, const array_in<double>& a) { r.curve_loss = from_numpy(a); },
          nb::rv_policy::move)
      .def_prop_ro(
          "snapshots",
          [](const tms::train_result& r) {
            return weights_to_dict(r.snapshots, {r.snapshot_step.size(), static_cast<std::size_t>(r.K())});
          })
      .def(
          "set_snapshots",
          [](tms::train_result& r, const tms::train_config& c, nb::dict d) {
            const auto S = static_cast<std::int64_t>(r.snapshot_step.size());
            r.snapshots = weights_from_dict(c, S * r.K(), d, {S, r.K()}, "snapshots");
          },
          "config"_a, "snapshots"_a,
          "Sets every tensor [S, K, shape...] (snapshot_step and instances set first).")
      .def_prop_rw(
          "snapshot_loss",
          [](const tms::train_result& r) {
            return to_numpy(r.snapshot_loss, {r.snapshot_step.size(), static_cast<std::size_t>(r.K())});
          },
          [](tms::train_result& r, const array_in<double>& a) { r.snapshot_loss = from_numpy(a); },
          nb::rv_policy::move);
  m.def("log_spaced_steps", &tms::log_spaced_steps, "steps"_a, "count"_a);
  m.def("curve_points", &tms::curve_points, "config"_a);

  m.def(
      "train", &train_with_signals, "config"_a, "progress"_a = nb::none(),
      "snapshot_steps"_a = std::vector<std::int64_t>{}, "init"_a = nb::none(), "first_step"_a = 0,
      "callback_every"_a = 0, "on_step"_a = nb::none(),
      "Trains with the GIL released. progress(steps_done, steps_total) (training steps) is called about "
      "every 100 ms; returning False cancels. Ctrl-C raises KeyboardInterrupt. snapshot_steps: steps after "
      "which every instance's weights are copied (0 = the initial weights). init: a dict of the model's "
      "tensors "
      "[K, shape...] to start from; first_step: the data stream's first step. on_step(step, loss [K]) every "
      "callback_every steps; returning False stops and returns the result so far.");
  m.def(
      "evaluate_loss",
      [](const tms::train_config& c, nb::dict weights, std::int64_t samples, std::uint64_t seed) {
        std::vector<double> loss;
        {
          const tms::model_weights w =
              weights_from_dict(c, c.instance_count(), weights, {c.instance_count()}, "weights");
          nb::gil_scoped_release release;
          loss = tms::evaluate_loss(c, w, samples, seed);
        }
        const std::size_t K = loss.size();
        return to_numpy(std::move(loss), {K});
      },
      "config"_a, "weights"_a, "samples"_a, "seed"_a);
  m.def(
      "evaluate_loss",
      [](const tms::train_config& c, const std::vector<tms::instance_spec>& instances, nb::dict weights,
         std::int64_t samples, std::uint64_t seed) {
        std::vector<double> loss;
        {
          const auto K = static_cast<std::int64_t>(instances.size());
          const tms::model_weights w = weights_from_dict(c, K, weights, {K}, "weights");
          nb::gil_scoped_release release;
          loss = tms::evaluate_loss(c, instances, w, samples, seed);
        }
        const std::size_t K = loss.size();
        return to_numpy(std::move(loss), {K});
      },
      "config"_a, "instances"_a, "weights"_a, "samples"_a, "seed"_a);
  m.def("evaluation_seed", &tms::evaluation_seed, "seed"_a);
  m.attr("adversarial_relative_norm") = tms::adversarial_relative_norm;
  m.def(
      "adversarial_vulnerability",
      [](const tms::train_config& c, const std::vector<tms::instance_spec>& instances, nb::dict weights,
         std::int64_t samples, std::uint64_t seed, double relative_norm) {
        std::vector<tms::adversarial_result> r;
        {
          const auto K = static_cast<std::int64_t>(instances.size());
          const tms::model_weights w = weights_from_dict(c, K, weights, {K}, "weights");
          nb::gil_scoped_release release;
          r = tms::adversarial_vulnerability(c, instances, w, samples, seed, relative_norm);
        }
        const std::size_t K = r.size();
        auto column = [&](auto get) {
          std::vector<double> v(K);
          for (std::size_t k = 0; k < K; ++k) v[k] = get(r[k]);
          return to_numpy(std::move(v), {K});
        };
        nb::dict d;
        d["input_norm"] = column([](const auto& a) { return a.input_norm; });
        d["attack_norm"] = column([](const auto& a) { return a.attack_norm; });
        d["clean"] = column([](const auto& a) { return a.clean; });
        d["attacked"] = column([](const auto& a) { return a.attacked; });
        d["feature"] = column([](const auto& a) { return double(a.feature); });
        d["sign"] = column([](const auto& a) { return double(a.sign); });
        d["reference_clean"] = column([](const auto& a) { return a.reference_clean; });
        d["reference_attacked"] = column([](const auto& a) { return a.reference_attacked; });
        d["vulnerability"] = column([](const auto& a) { return a.vulnerability; });
        d["features_per_dimension"] = column([](const auto& a) { return a.features_per_dimension; });
        return d;
      },
      "config"_a, "instances"_a, "weights"_a, "samples"_a, "seed"_a, "relative_norm"_a,
      "E16's analytic L2 attack per instance (analysis_adversarial.hpp): a dict of [K] arrays.");
  m.def(
      "sample_inputs",
      [](const tms::train_config& c, std::int64_t samples, std::uint64_t seed) {
        std::vector<float> x;
        {
          nb::gil_scoped_release release;
          x = tms::sample_inputs(c, samples, seed);
        }
        const auto K = static_cast<std::size_t>(c.instance_count());
        return to_numpy(std::move(x),
                        {K, static_cast<std::size_t>(samples), static_cast<std::size_t>(c.features)});
      },
      "config"_a, "samples"_a, "seed"_a,
      "The inputs evaluate_loss scores (evaluate.hpp: sample_inputs), [K, samples, n] float32.");

  nb::class_<tms::sae_config>(m, "SaeConfig")
      .def(nb::init<>())
      .def_prop_rw(
          "kind", [](const tms::sae_config& c) { return std::string(tms::sae_kind_name(c.kind)); },
          [](tms::sae_config& c, const std::string& v) { c.kind = tms::parse_sae_kind(v); })
      .def_rw("instances", &tms::sae_config::instances)
      .def_rw("widths", &tms::sae_config::widths)
      .def_rw("coefficients", &tms::sae_config::coefficients)
      .def_rw("restarts", &tms::sae_config::restarts)
      .def_rw("steps", &tms::sae_config::steps)
      .def_rw("batch", &tms::sae_config::batch)
      .def_rw("lr", &tms::sae_config::lr)
      .def_rw("beta1", &tms::sae_config::beta1)
      .def_rw("beta2", &tms::sae_config::beta2)
      .def_rw("eps", &tms::sae_config::eps)
      .def_rw("loss_curve_points", &tms::sae_config::loss_curve_points)
      .def_prop_rw(
          "resample",
          [](const tms::sae_config& c) { return std::string(tms::sae_resample_name(c.resample)); },
          [](tms::sae_config& c, const std::string& v) { c.resample = tms::parse_sae_resample(v); })
      .def_rw("resample_every", &tms::sae_config::resample_every)
      .def_rw("dead_window", &tms::sae_config::dead_window)
      .def_rw("resample_scale", &tms::sae_config::resample_scale)
      .def_rw("aux_k", &tms::sae_config::aux_k)
      .def_rw("aux_coefficient", &tms::sae_config::aux_coefficient)
      .def_rw("initial_threshold", &tms::sae_config::initial_threshold)
      .def_rw("bandwidth", &tms::sae_config::bandwidth)
      .def_rw("threshold_decay", &tms::sae_config::threshold_decay)
      .def_rw("eval_samples", &tms::sae_config::eval_samples)
      .def_rw("seed", &tms::sae_config::seed)
      .def_rw("threads", &tms::sae_config::threads)
      .def("validate", &tms::sae_config::validate, "toy_instances"_a);
  m.def(
      "sae_tensors",
      [](const std::string& kind, int m_, int d) {
        nb::list out;
        for (const auto& t : tms::sae_tensors(tms::parse_sae_kind(kind), m_, d).tensors)
          out.append(nb::make_tuple(t.name, t.shape));
        return out;
      },
      "kind"_a, "m"_a, "d"_a, "The SAE family's tensors (sae_config.hpp's table): [(name, shape)].");
  m.def(
      "sae_grid",
      [](const tms::sae_config& c, std::int64_t toy_instances) {
        c.validate(toy_instances);
        const std::vector<tms::sae_spec> g = tms::sae_grid(c, toy_instances);
        const std::size_t S = g.size();
        std::vector<std::int64_t> toy(S), width(S), restart(S);
        std::vector<double> coefficient(S);
        for (std::size_t s = 0; s < S; ++s) {
          toy[s] = g[s].toy_instance;
          width[s] = g[s].width;
          coefficient[s] = g[s].coefficient;
          restart[s] = g[s].restart;
        }
        nb::dict out;
        out["toy_instance"] = to_numpy(std::move(toy), {S});
        out["width"] = to_numpy(std::move(width), {S});
        out["coefficient"] = to_numpy(std::move(coefficient), {S});
        out["restart"] = to_numpy(std::move(restart), {S});
        return out;
      },
      "config"_a, "toy_instances"_a, "The grid a config trains (sae_config.hpp: sae_grid): arrays [S].");
  m.def("sae_kinds", []() {
    return std::vector<std::string>{"relu", "topk", "batch-topk", "jumprelu", "gated"};
  });
  m.def(
      "train_saes",
      [](const tms::train_config& toy, const std::vector<tms::instance_spec>& instances, nb::dict weights,
         const tms::sae_config& c, nb::object progress) {
        const auto K = static_cast<std::int64_t>(instances.size());
        const tms::model_weights w = weights_from_dict(toy, K, weights, {K}, "weights");
        return sae_result_to_dict(train_saes_with_signals(toy, instances, w, c, progress), toy.features);
      },
      "toy"_a, "instances"_a, "weights"_a, "config"_a, "progress"_a = nb::none(),
      "SAEs on a toy run's frozen activations, scored (sae_trainer.hpp): a dict of specs, params (one dict "
      "per SAE), metrics [S], features [S, n], latents (one dict per SAE), losses and curves.");
  m.def(
      "sae_encode",
      [](const tms::train_config& toy, const std::vector<tms::instance_spec>& instances, nb::dict weights,
         const tms::sae_config& c, std::int64_t toy_instance, int width, double coefficient, nb::dict params,
         double threshold, std::int64_t samples, std::uint64_t seed) {
        const auto K = static_cast<std::int64_t>(instances.size());
        const tms::model_weights w = weights_from_dict(toy, K, weights, {K}, "weights");
        tms::sae_result r;
        r.config = c;
        r.m = toy.hidden;
        r.specs = {tms::sae_spec{toy_instance, width, coefficient, 0, 0, 0}};
        r.params = {sae_params_from_dict(tms::sae_tensors(c.kind, toy.hidden, width), params)};
        r.threshold = {threshold};
        tms::sae_activations a;
        {
          nb::gil_scoped_release release;
          a = tms::sae_encode(toy, instances, w, r, 0, samples, seed);
        }
        const auto S = static_cast<std::size_t>(samples);
        nb::dict out;
        out["x"] = to_numpy(std::move(a.x), {S, static_cast<std::size_t>(toy.features)});
        out["h"] = to_numpy(std::move(a.h), {S, static_cast<std::size_t>(toy.hidden)});
        out["z"] = to_numpy(std::move(a.z), {S, static_cast<std::size_t>(width)});
        out["h_hat"] = to_numpy(std::move(a.h_hat), {S, static_cast<std::size_t>(toy.hidden)});
        return out;
      },
      "toy"_a, "instances"_a, "weights"_a, "config"_a, "toy_instance"_a, "width"_a, "coefficient"_a,
      "params"_a, "threshold"_a, "samples"_a, "seed"_a);

  nb::class_<tms::instance_metrics>(m, "InstanceMetrics")
      .def_ro("norms", &tms::instance_metrics::norms)
      .def_ro("superposition", &tms::instance_metrics::superposition)
      .def_ro("dimensionality", &tms::instance_metrics::dimensionality)
      .def_ro("frobenius_sq", &tms::instance_metrics::frobenius_sq)
      .def_ro("dims_per_feature", &tms::instance_metrics::dims_per_feature)
      .def_ro("represented", &tms::instance_metrics::represented);
  m.def(
      "measure",
      [](const array_in<float>& W) {
        auto [n, k] = check_W(W);
        return tms::measure(W.data(), n, k);
      },
      "W"_a);
  m.def(
      "gram",
      [](const array_in<float>& W) {
        auto [n, k] = check_W(W);
        return to_numpy(tms::gram(W.data(), n, k),
                        {static_cast<std::size_t>(n), static_cast<std::size_t>(n)});
      },
      "W"_a);

  nb::class_<tms::linear_loss_terms>(m, "LinearLossTerms")
      .def_ro("feature_benefit", &tms::linear_loss_terms::feature_benefit)
      .def_ro("interference", &tms::linear_loss_terms::interference)
      .def_ro("bias", &tms::linear_loss_terms::bias)
      .def_ro("total", &tms::linear_loss_terms::total);
  m.def(
      "linear_loss_decomposition",
      [](const array_in<float>& W, const array_in<float>& b, const array_in<float>& importance,
         double density) {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n) || importance.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b, importance: expected " + std::to_string(n) + " entries each");
        return tms::linear_loss_decomposition(W.data(), b.data(), importance.data(), density, n, k);
      },
      "W"_a, "b"_a, "importance"_a, "density"_a);
  m.def(
      "linear_loss_decomposition",
      [](const array_in<float>& W, const array_in<float>& b, const array_in<float>& importance,
         const array_in<double>& density) {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n) || importance.size() != static_cast<std::size_t>(n) ||
            density.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b, importance, density: expected " + std::to_string(n) +
                                      " entries each");
        return tms::linear_loss_decomposition(W.data(), b.data(), importance.data(), density.data(), n, k);
      },
      "W"_a, "b"_a, "importance"_a, "density"_a,
      "The same with a density per feature (density [n]: relative densities, paper E10).");

  // The analysis library (src/core/analysis_*.hpp): phase diagrams, tegum-factor geometry, ReLU loss split.
  nb::enum_<tms::phase_problem>(m, "PhaseProblem")
      .value("n2_m1", tms::phase_problem::n2_m1)
      .value("n3_m2", tms::phase_problem::n3_m2);
  nb::enum_<tms::phase_candidate>(m, "PhaseCandidate")
      .value("extra_ignored", tms::phase_candidate::extra_ignored)
      .value("extra_dedicated", tms::phase_candidate::extra_dedicated)
      .value("others_antipodal", tms::phase_candidate::others_antipodal)
      .value("extra_antipodal", tms::phase_candidate::extra_antipodal);
  nb::enum_<tms::phase_class>(m, "PhaseClass")
      .value("not_learned", tms::phase_class::not_learned)
      .value("dedicated", tms::phase_class::dedicated)
      .value("superposition", tms::phase_class::superposition)
      .value("other", tms::phase_class::other);
  m.def("phase_class_name", [](tms::phase_class c) { return std::string(tms::phase_class_name(c)); });
  m.def("phase_candidate_name",
        [](tms::phase_candidate c) { return std::string(tms::phase_candidate_name(c)); });
  m.def("phase_features", &tms::phase_features, "problem"_a);
  m.def("phase_hidden", &tms::phase_hidden, "problem"_a);
  m.def("phase_candidates", &tms::phase_candidates, "problem"_a);
  m.def("phase_of_candidate", &tms::phase_of_candidate, "candidate"_a);
  m.def("phase_candidate_loss", &tms::phase_candidate_loss, "problem"_a, "candidate"_a, "density"_a, "r"_a);
  m.def(
      "phase_candidate_weights",
      [](tms::phase_problem problem, tms::phase_candidate c, double density) {
        auto w = tms::phase_candidate_weights(problem, c, density);
        const auto n = static_cast<std::size_t>(tms::phase_features(problem)),
                   k = static_cast<std::size_t>(tms::phase_hidden(problem));
        return nb::make_tuple(to_numpy(std::move(w.W), {n, k}), to_numpy(std::move(w.b), {n}));
      },
      "problem"_a, "candidate"_a, "density"_a);
  nb::class_<tms::phase_prediction>(m, "PhasePrediction")
      .def_ro("candidate", &tms::phase_prediction::candidate)
      .def_ro("phase", &tms::phase_prediction::phase)
      .def_ro("loss", &tms::phase_prediction::loss);
  m.def("phase_predict", &tms::phase_predict, "problem"_a, "density"_a, "r"_a);
  m.attr("phase_triple_density") = tms::phase_triple_density;
  m.def("phase_superposition_lower", &tms::phase_superposition_lower, "density"_a);
  m.def("phase_superposition_upper", &tms::phase_superposition_upper, "density"_a);
  m.def("phase_from_boundaries", &tms::phase_from_boundaries, "problem"_a, "density"_a, "r"_a);
  nb::class_<tms::phase_thresholds>(m, "PhaseThresholds")
      .def(nb::init<>())
      .def_rw("represented", &tms::phase_thresholds::represented)
      .def_rw("orthogonal", &tms::phase_thresholds::orthogonal)
      .def_rw("antipodal", &tms::phase_thresholds::antipodal);
  m.def(
      "phase_classify",
      [](const array_in<float>& W, const array_in<float>& b, const tms::phase_thresholds& t) {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b: expected " + std::to_string(n) + " entries");
        return tms::phase_classify(W.data(), b.data(), n, k, t);
      },
      "W"_a, "b"_a, "thresholds"_a = tms::phase_thresholds{});
  m.def(
      "measure_sets",
      [](const array_in<float>& W, int set_size) {
        auto [n, k] = check_W(W);
        const tms::set_geometry g = tms::measure_sets(W.data(), n, k, set_size);
        nb::list pairs;
        for (const auto& set : g.pairs) {
          nb::list names;
          for (tms::pair_relation r : set) names.append(std::string(tms::pair_relation_name(r)));
          pairs.append(names);
        }
        nb::dict counts;
        for (int r = 0; r < 6; ++r)
          counts[std::string(tms::pair_relation_name(static_cast<tms::pair_relation>(r))).c_str()] =
              g.relation_count[r];
        nb::dict d;
        d["sets"] = g.sets;
        d["set_size"] = g.set_size;
        d["pairs"] = pairs;
        d["counts"] = counts;
        d["collapsed_sets"] = g.collapsed_sets;
        d["within_max"] = g.within_max;
        d["within_mean"] = g.within_mean;
        d["across_max"] = g.across_max;
        d["across_mean"] = g.across_mean;
        d["diagonal_min"] = g.diagonal_min;
        return d;
      },
      "W"_a, "set_size"_a,
      "How W [n, m] places the features of each set of set_size consecutive features (analysis_sets.hpp): "
      "the relation of every within-set pair (collapsed, side by side, orthogonal, opposed, antipodal, "
      "unlearned), their counts, the sets wholly collapsed, and |W_i . W_j| within and across sets.");
  nb::class_<tms::phase_cell>(m, "PhaseCell")
      .def_ro("phase", &tms::phase_cell::phase)
      .def_ro("mean_loss", &tms::phase_cell::mean_loss)
      .def_ro("votes", &tms::phase_cell::votes)
      .def_ro("kept", &tms::phase_cell::kept)
      .def_ro("dropped", &tms::phase_cell::dropped);
  m.def("phase_reduce_cell", &tms::phase_reduce_cell, "losses"_a, "classes"_a);

  nb::enum_<tms::polytope_kind>(m, "PolytopeKind")
      .value("dedicated", tms::polytope_kind::dedicated)
      .value("digon", tms::polytope_kind::digon)
      .value("triangle", tms::polytope_kind::triangle)
      .value("tetrahedron", tms::polytope_kind::tetrahedron)
      .value("pentagon", tms::polytope_kind::pentagon)
      .value("square_antiprism", tms::polytope_kind::square_antiprism)
      .value("other", tms::polytope_kind::other);
  m.def("polytope_name", [](tms::polytope_kind k) { return std::string(tms::polytope_name(k)); });
  nb::class_<tms::geometry_thresholds>(m, "GeometryThresholds")
      .def(nb::init<>())
      .def_rw("represented", &tms::geometry_thresholds::represented)
      .def_rw("interference", &tms::geometry_thresholds::interference)
      .def_rw("dimensionality", &tms::geometry_thresholds::dimensionality)
      .def_rw("rank", &tms::geometry_thresholds::rank);
  nb::class_<tms::tegum_factor>(m, "TegumFactor")
      .def_ro("features", &tms::tegum_factor::features)
      .def_ro("kind", &tms::tegum_factor::kind)
      .def_ro("name", &tms::tegum_factor::name)
      .def_ro("mean_dimensionality", &tms::tegum_factor::mean_dimensionality)
      .def_ro("rank", &tms::tegum_factor::rank);
  nb::class_<tms::feature_geometry>(m, "FeatureGeometry")
      .def_ro("factors", &tms::feature_geometry::factors)
      .def_ro("unrepresented", &tms::feature_geometry::unrepresented)
      .def_ro("rank", &tms::feature_geometry::rank)
      .def_ro("independent", &tms::feature_geometry::independent);
  m.def(
      "geometry_tegum_factors",
      [](const array_in<float>& W, const tms::geometry_thresholds& t) {
        auto [n, k] = check_W(W);
        return tms::geometry_tegum_factors(W.data(), n, k, t);
      },
      "W"_a, "thresholds"_a = tms::geometry_thresholds{});

  nb::class_<tms::relu_loss_terms>(m, "ReluLossTerms")
      .def_ro("feature_benefit", &tms::relu_loss_terms::feature_benefit)
      .def_ro("interference", &tms::relu_loss_terms::interference)
      .def_ro("l1", &tms::relu_loss_terms::l1)
      .def_ro("feature_benefit_at_one", &tms::relu_loss_terms::feature_benefit_at_one)
      .def_ro("interference_at_one", &tms::relu_loss_terms::interference_at_one)
      .def_ro("l0", &tms::relu_loss_terms::l0)
      .def_ro("expected_one_sparse", &tms::relu_loss_terms::expected_one_sparse);
  m.def(
      "relu_loss_decomposition",
      [](const array_in<float>& W, const array_in<float>& b, const array_in<float>& importance,
         double density) {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n) || importance.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b, importance: expected " + std::to_string(n) + " entries each");
        return tms::relu_loss_decomposition(W.data(), b.data(), importance.data(), density, n, k);
      },
      "W"_a, "b"_a, "importance"_a, "density"_a);
  m.def(
      "relu_pattern_losses",
      [](const array_in<float>& W, const array_in<float>& b, const array_in<float>& importance, int points,
         std::uint64_t seed) {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n) || importance.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b, importance: expected " + std::to_string(n) + " entries each");
        return tms::relu_pattern_losses(W.data(), b.data(), importance.data(), n, k, points, seed);
      },
      "W"_a, "b"_a, "importance"_a, "points"_a = 4096, "seed"_a = 0);
  m.def(
      "expected_loss_from_patterns",
      [](const std::vector<double>& table, const std::vector<double>& density) {
        return tms::expected_loss_from_patterns(table, density.data(), static_cast<int>(density.size()));
      },
      "table"_a, "density"_a);

  m.def(
      "reported_loss_split",
      [](const std::string& model, const array_in<float>& W, const array_in<float>& b,
         const array_in<float>& importance, double density, const std::vector<double>& relative,
         const std::string& values, const std::string& data) -> nb::object {
        auto [n, k] = check_W(W);
        if (b.size() != static_cast<std::size_t>(n) || importance.size() != static_cast<std::size_t>(n))
          throw std::invalid_argument("b, importance: expected " + std::to_string(n) + " entries each");
        tms::loss_split t;
        if (!tms::reported_loss_split(t, tms::parse_model(model), tms::parse_values(values),
                                      tms::parse_data(data), W.data(), b.data(), importance.data(), density,
                                      relative, n, k))
          return nb::none();
        nb::dict d;
        d["feature_benefit"] = t.feature_benefit;
        d["interference"] = t.interference;
        d["bias"] = t.bias;
        d[t.total_name] = t.total;
        return d;
      },
      "model"_a, "W"_a, "b"_a, "importance"_a, "density"_a, "relative_density"_a, "values"_a = "uniform",
      "data"_a = "independent",
      "The loss split metrics.json reports (metrics.hpp: reported_loss_split), a dict, or None.");

  // Neurons of a privileged hidden basis (analysis_neurons.hpp).
  m.attr("monosemantic_share") = tms::monosemantic_share;
  m.attr("dead_neuron_norm") = tms::dead_neuron_norm;
  nb::class_<tms::neuron_metrics>(m, "NeuronMetrics")
      .def_ro("norm", &tms::neuron_metrics::norm)
      .def_ro("top_share", &tms::neuron_metrics::top_share)
      .def_ro("features", &tms::neuron_metrics::features)
      .def_ro("primary", &tms::neuron_metrics::primary)
      .def_ro("secondary", &tms::neuron_metrics::secondary)
      .def_ro("monosemantic", &tms::neuron_metrics::monosemantic)
      .def_ro("polysemantic", &tms::neuron_metrics::polysemantic)
      .def_ro("dead", &tms::neuron_metrics::dead);
  m.def(
      "measure_neurons",
      [](const array_in<float>& W) {
        auto [n, k] = check_W(W);
        return tms::measure_neurons(W.data(), n, k);
      },
      "W"_a, "Per neuron (column j of W [n, m]): norm, top_share, features, primary, secondary; the counts.");
  m.def("privileged_regime", &tms::privileged_regime, "n"_a, "m"_a, "represented"_a, "monosemantic"_a);
  // The abs model's neurons (E19-E21): W_in and W_out [n, m] of one instance, b [n].
  const auto check_abs = [](const array_in<float>& W_in, const array_in<float>& W_out) {
    if (W_in.ndim() != 2 || W_out.ndim() != 2 || W_in.shape(0) != W_out.shape(0) ||
        W_in.shape(1) != W_out.shape(1))
      throw std::invalid_argument("W_in, W_out: expected two 2-D arrays [features, hidden] of one shape");
    return std::pair<int, int>{static_cast<int>(W_in.shape(0)), static_cast<int>(W_in.shape(1))};
  };
  const auto check_bias = [](const array_in<float>& b, int n) {
    if (b.size() != static_cast<std::size_t>(n))
      throw std::invalid_argument("b: expected " + std::to_string(n) + " entries");
  };
  nb::class_<tms::abs_sides>(m, "AbsSides")
      .def_ro("positive_gain", &tms::abs_sides::positive_gain)
      .def_ro("negative_gain", &tms::abs_sides::negative_gain)
      .def_ro("positive", &tms::abs_sides::positive)
      .def_ro("negative", &tms::abs_sides::negative)
      .def_ro("paired", &tms::abs_sides::paired)
      .def_ro("monosemantic_pair", &tms::abs_sides::monosemantic_pair)
      .def_ro("pairs", &tms::abs_sides::pairs)
      .def_ro("monosemantic_pairs", &tms::abs_sides::monosemantic_pairs);
  m.def(
      "measure_abs_sides",
      [check_abs](const array_in<float>& W_in, const array_in<float>& W_out) {
        auto [n, k] = check_abs(W_in, W_out);
        return tms::measure_abs_sides(W_in.data(), W_out.data(), n, k);
      },
      "W_in"_a, "W_out"_a,
      "Per feature: the positive- and negative-side neurons computing |x_i| and their gains.");
  nb::class_<tms::abs_outputs>(m, "AbsOutputs")
      .def_ro("positive", &tms::abs_outputs::positive)
      .def_ro("negative", &tms::abs_outputs::negative)
      .def_ro("zero", &tms::abs_outputs::zero)
      .def_ro("computed", &tms::abs_outputs::computed);
  m.def(
      "abs_one_hot_outputs",
      [check_abs, check_bias](const array_in<float>& W_in, const array_in<float>& W_out,
                              const array_in<float>& b) {
        auto [n, k] = check_abs(W_in, W_out);
        check_bias(b, n);
        return tms::abs_one_hot_outputs(W_in.data(), W_out.data(), b.data(), n, k);
      },
      "W_in"_a, "W_out"_a, "b"_a,
      "Per feature y'_i(+e_i) and y'_i(-e_i) less y'_i(0), y'_i(0); how many are computed.");
  nb::class_<tms::asymmetric_neuron>(m, "AsymmetricNeuron")
      .def_ro("neuron", &tms::asymmetric_neuron::neuron)
      .def_ro("strong", &tms::asymmetric_neuron::strong)
      .def_ro("weak", &tms::asymmetric_neuron::weak)
      .def_ro("opposite_signs", &tms::asymmetric_neuron::opposite_signs)
      .def_ro("strong_weight", &tms::asymmetric_neuron::strong_weight)
      .def_ro("weak_weight", &tms::asymmetric_neuron::weak_weight)
      .def_ro("interference", &tms::asymmetric_neuron::interference)
      .def_ro("reverse", &tms::asymmetric_neuron::reverse)
      .def_ro("weak_gain", &tms::asymmetric_neuron::weak_gain)
      .def_ro("strong_gain", &tms::asymmetric_neuron::strong_gain)
      .def_ro("computes_both", &tms::asymmetric_neuron::computes_both)
      .def_ro("inhibitor", &tms::asymmetric_neuron::inhibitor)
      .def_ro("inhibition", &tms::asymmetric_neuron::inhibition)
      .def_ro("residual", &tms::asymmetric_neuron::residual)
      .def_prop_ro("inhibited", &tms::asymmetric_neuron::inhibited)
      .def_prop_ro("motif", &tms::asymmetric_neuron::motif);
  m.def(
      "asymmetric_neurons",
      [check_abs, check_bias](const array_in<float>& W_in, const array_in<float>& W_out,
                              const array_in<float>& b) {
        auto [n, k] = check_abs(W_in, W_out);
        check_bias(b, n);
        return tms::asymmetric_neurons(W_in.data(), W_out.data(), b.data(), n, k);
      },
      "W_in"_a, "W_out"_a, "b"_a,
      "The asymmetric neurons (E21) in neuron order, each with its inhibitor or -1.");

  // Run folders: JSON crosses as text (json.loads on the Python side).
  m.def(
      "config_to_json", [](const tms::train_config& c) { return tms::io::config_to_json(c).dump(); },
      "config"_a);
  m.def(
      "run_to_json",
      [](const tms::train_config& c, const tms::train_result& r) {
        check_result(r);
        return tms::io::run_to_json(c, r).dump();
      },
      "config"_a, "result"_a);
  m.def(
      "config_from_json",
      [](const std::string& text) {
        const auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) throw tms::usage_error("config: not valid JSON");
        return tms::io::config_from_json(j);
      },
      "text"_a);
  m.def(
      "write_run",
      [](const std::string& dir, const tms::train_config& c, const tms::train_result& r, bool overwrite,
         const std::string& init_from) {
        check_result(r);
        tms::io::run_dir_claim claim(dir, overwrite, "path");
        tms::io::write_run(claim, c, r, init_from);
      },
      "dir"_a, "config"_a, "result"_a, "overwrite"_a = false, "init_from"_a = "",
      "Claims the folder (refused when another run writes it, or when it holds a finished run and not "
      "overwrite) and writes the run folder atomically.");
  m.def(
      "read_run",
      [](const std::string& dir) {
        tms::io::run_folder f = tms::io::read_run(dir);
        const auto K = static_cast<std::size_t>(f.K), n = static_cast<std::size_t>(f.n);
        nb::dict arrays;
        arrays["weights"] = weights_to_dict(f.weights, {K});
        arrays["density"] = to_numpy(std::move(f.density), {K});
        arrays["importance"] = to_numpy(std::move(f.importance), {K, n});
        arrays["restart"] = to_numpy(std::move(f.restart), {K});
        arrays["instances"] = columns_to_dict(f.instances);
        if (!f.snapshot_step.empty()) {
          const std::size_t S = f.snapshot_step.size();
          arrays["snapshot_steps"] = to_numpy(std::move(f.snapshot_step), {S});
          arrays["snapshots"] = weights_to_dict(f.snapshots, {S, K});
          arrays["snapshot_loss"] = to_numpy(std::move(f.snapshot_loss), {S, K});
        }
        return nb::make_tuple(f.metrics.dump(), arrays);
      },
      "dir"_a, "The run folder, every part checked (run_dir.hpp): (metrics.json's text, a dict of arrays).");
  m.def(
      "read_metrics", [](const std::string& dir) { return tms::io::read_run(dir).metrics.dump(); }, "dir"_a);
  m.def(
      "merge_runs",
      [](const std::string& out, const std::vector<std::string>& shards, bool overwrite) {
        const std::vector<std::filesystem::path> paths(shards.begin(), shards.end());
        tms::io::run_dir_claim claim(out, overwrite);
        tms::io::merge_runs(claim, paths);
      },
      "out"_a, "shards"_a, "overwrite"_a = false,
      "Joins the run folders of a grid's shards into one run folder (run_merge.hpp).");

  m.def("cli_main", &cli_main_argv, "argv"_a,
        "Runs the tms command line (argv[0] is the program name) and returns its exit status.");
}
