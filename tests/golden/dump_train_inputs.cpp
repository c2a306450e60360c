// Writes the inputs of the end-to-end golden (train_golden.py): for each configuration of
// train_golden_configs.hpp, what tms::train starts from and every batch it trains on, so that an independent
// implementation (PyTorch) can run the same training and its result be compared with tms::train's.
//
//   dump_train_inputs OUT_DIR
//
// OUT_DIR/manifest.json lists the configurations (every setting the oracle needs, the instances' densities,
// importances and stream seeds); per configuration NAME, float32 little-endian arrays:
//   NAME.W0.bin [K][n][m]   NAME.b0.bin [K][n]   the initial weights (init_params, as train() calls it)
//   NAME.x.bin  [K][steps][B][n]                  the dense batch of every instance and step
// The batches come from the reference sampler (sample_sparse_batch with the instance's stream seed, step
// and density, and the run's per-feature densities), and each is checked here against the tiled sampler
// that train() draws with inside the fast step (sample_tiled), so they are the batches train() uses.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data_sparse.hpp"
#include "core/init.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"
#include "core/trainer.hpp"
#include "golden/train_golden_configs.hpp"

namespace {

void write_floats(const std::filesystem::path& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tms;
  if (argc != 2) {
    std::cerr << "usage: dump_train_inputs OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  nlohmann::json manifest = nlohmann::json::array();
  for (const auto& [name, c] : golden::train_golden_configs()) {
    c.validate();
    const int n = c.features, m = c.hidden, B = c.batch;
    const std::vector<instance_spec> instances = config_instances(c);
    const auto K = static_cast<std::int64_t>(instances.size());
    const double std = init_std(c.init, n, m, K);
    std::vector<float> W0, b0, X;
    nlohmann::json inst = nlohmann::json::array();
    for (const instance_spec& is : instances) {
      const std::uint64_t seed = instance_stream_seed(c, is);
      std::vector<float> params(model_param_count(c.model, n, m));
      init_params(params.data(), c.model, n, m, seed, std);
      W0.insert(W0.end(), params.begin(), params.begin() + static_cast<std::ptrdiff_t>(n) * m);
      b0.insert(b0.end(), params.begin() + static_cast<std::ptrdiff_t>(n) * m, params.end());
      sparse_batch<float> x;
      x.reserve(B, n);
      x.sampler.set_relative(c.relative_density);
      kernels::tied_fast_workspace ws;  // the sampler inside train()'s step, for the cross-check
      ws.reserve(B, n, m);
      ws.sampler.set_relative(c.relative_density);
      for (int t = 0; t < c.steps; ++t) {
        sample_sparse_batch(x, seed, t, is.density);
        sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, seed, t, is.density);
        std::vector<float> dense(static_cast<std::size_t>(B) * n, 0.0f);
        for (int s = 0; s < B; ++s)
          for (int e = x.offset[s]; e < x.offset[s + 1]; ++e)
            dense[static_cast<std::size_t>(s) * n + x.index[e]] = x.value[e];
        for (int s = 0; s < B; ++s)
          for (int i = 0; i < n; ++i)
            if (ws.X.get()[((s / 16) * static_cast<std::size_t>(n) + i) * 16 + s % 16] != dense[s * n + i])
              throw std::runtime_error(name + ": the reference and tiled samplers disagree");
        X.insert(X.end(), dense.begin(), dense.end());
      }
      inst.push_back({{"density", is.density},
                      {"importance", is.importance},
                      {"restart", is.restart},
                      {"stream_seed", seed},
                      {"sampling", choose_sampling(is.density, n, !c.relative_density.empty()) ==
                                           sampling_method::binomial
                                       ? "binomial"
                                       : "bernoulli"}});
    }
    write_floats(dir / (name + ".W0.bin"), W0);
    write_floats(dir / (name + ".b0.bin"), b0);
    write_floats(dir / (name + ".x.bin"), X);
    manifest.push_back({{"name", name},
                        {"preset", c.preset},
                        {"model", std::string(model_name(c.model))},
                        {"n", n},
                        {"m", m},
                        {"batch", B},
                        {"steps", c.steps},
                        {"K", K},
                        {"lr", c.lr},
                        {"schedule", std::string(schedule_name(c.schedule))},
                        {"beta1", c.beta1},
                        {"beta2", c.beta2},
                        {"eps", c.eps},
                        {"weight_decay", c.weight_decay},
                        {"init", std::string(init_name(c.init))},
                        {"init_std", std},
                        {"relative_density", c.relative_density},
                        {"instances", inst}});
  }
  std::ofstream(dir / "manifest.json") << manifest.dump(1) << "\n";
  std::cout << "wrote " << manifest.size() << " configurations to " << dir.string() << "\n";
  return 0;
}
