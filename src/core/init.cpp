#include "core/init.hpp"

#include <cmath>

#include "core/model.hpp"
#include "core/rng.hpp"

namespace tms {

double init_std(init_scheme scheme, int n, int m, std::int64_t K) {
  const double nn = n, mm = m, KK = static_cast<double>(K);
  switch (scheme) {
    case init_scheme::reference:
      return std::sqrt(2.0 / (mm * (nn + KK)));
    case init_scheme::arena:
      return std::sqrt(2.0 / (nn * (mm + KK)));
    case init_scheme::independent:
      return std::sqrt(2.0 / (mm * (nn + 1.0)));
  }
  return 0;
}

void init_params(float* params, model_kind kind, int n, int m, std::uint64_t stream_seed, double std) {
  const philox rng(stream_seed);
  const std::size_t nW = static_cast<std::size_t>(n) * m;
  for (std::size_t block = 0; block * 4 < nW; ++block) {
    auto u =
        rng(0, static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), rng_tag::init);
    auto z01 = box_muller(u[0], u[1]);
    auto z23 = box_muller(u[2], u[3]);
    const double z[4] = {z01[0], z01[1], z23[0], z23[1]};
    for (std::size_t lane = 0; lane < 4 && block * 4 + lane < nW; ++lane)
      params[block * 4 + lane] = static_cast<float>(std * z[lane]);
  }
  const std::size_t P = model_param_count(kind, n, m);
  for (std::size_t j = nW; j < P; ++j) params[j] = 0.0f;
}

}  // namespace tms
