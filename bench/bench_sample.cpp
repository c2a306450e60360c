// Times the batch sources (batch_source.hpp) filling the fast kernels' tiles: independent features against
// correlated and anticorrelated sets, at the same marginal density per feature, one thread. Prints one JSON
// line per case: the time per batch, the non-zeros per batch and the nanoseconds per non-zero value.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/batch_source.hpp"
#include "core/kernels/tied_fast.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Times the batch sources"};
  int n = 100, B = 1024, batches = 400, set_size = 2;
  std::string densities = "1,0.3,0.1,0.03,0.01,0.003";
  app.add_option("-n,--features", n);
  app.add_option("--batch", B);
  app.add_option("--batches", batches);
  app.add_option("--set-size", set_size);
  app.add_option("--density", densities, "comma list of marginal densities per feature");
  CLI11_PARSE(app, argc, argv);
  const std::vector<double> list = tms::parse_number_list(densities, "density");
  for (double p : list)
    for (tms::data_kind data :
         {tms::data_kind::independent, tms::data_kind::correlated, tms::data_kind::anticorrelated}) {
      tms::train_config c;
      c.features = n, c.batch = B, c.data = data, c.set_size = set_size;
      // The same marginal for every source: anticorrelated sets by ARENA's rule (each feature's density),
      // which needs p <= 1 / set_size.
      c.density_of = tms::set_density::feature;
      if (data == tms::data_kind::anticorrelated && p * set_size > 1) continue;
      c.density = {p};
      c.validate();
      const tms::batch_source source(c);
      tms::kernels::tied_fast_workspace ws;
      ws.reserve(B, n, 20);
      source.prepare(ws);
      for (int t = 0; t < 10; ++t) source.fill(ws, 7, t, p);  // warm-up
      double nnz = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < batches; ++t) {
        source.fill(ws, 7, 10 + t, p);
        nnz += static_cast<double>(ws.last_nnz);
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf(
          "{\"data\": \"%s\", \"density\": %g, \"n\": %d, \"batch\": %d, \"set_size\": %d, \"us_per_batch\": "
          "%.3f, "
          "\"nonzeros_per_batch\": %.1f, \"ns_per_nonzero\": %.3f}\n",
          std::string(tms::data_name(data)).c_str(), p, n, B, set_size, s / batches * 1e6, nnz / batches,
          s / nnz * 1e9);
    }
  return 0;
}
