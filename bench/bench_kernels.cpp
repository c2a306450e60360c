// Times one instance-step of the fast tied kernel, phase by phase, for a given (n, m, B, density):
//   bench_kernels n m B density [model]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/init.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"

int main(int argc, char** argv) {
  const int n = std::atoi(argv[1]), m = std::atoi(argv[2]), B = std::atoi(argv[3]);
  const double d = std::atof(argv[4]);
  const auto kind = argc > 5 && std::string(argv[5]) == "linear" ? tms::model_kind::linear : tms::model_kind::relu_output;
  std::vector<float> params(tms::model_param_count(kind, n, m)), grad(params.size()), I(n);
  tms::init_params(params.data(), kind, n, m, 1, 0.3);
  for (int i = 0; i < n; ++i) params[n * m + i] = -0.2f, I[i] = 1;
  tms::kernels::tied_fast_workspace ws;
  ws.reserve(B, n, m);
  const int reps = std::max(20, static_cast<int>(2e8 / (double(B) * n * m + 1)));
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) tms::kernels::tied_fast_loss_and_grad(kind, grad.data(), params.data(), I.data(), d, 1, r, ws);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;

  t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) tms::sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, 1, r, d);
  double g = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("n=%d m=%d B=%d d=%g: step %.1f us (sampling %.1f us), dense-equivalent %.1f GFLOP/s\n", n, m, B, d,
              s * 1e6, g * 1e6, 3.0 * 2 * B * n * m / s / 1e9);
}
