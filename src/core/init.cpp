#include "core/init.hpp"

#include <algorithm>
#include <cmath>

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

void init_params(float* params, const model_layout& layout, std::uint64_t stream_seed, double std) {
  const philox rng(stream_seed);
  std::uint32_t xavier_ordinal = 0;  // the j-th Xavier tensor draws from counter (j, block): its own numbers
  for (const tensor_spec& t : layout.tensors) {
    float* out = params + t.offset;
    switch (t.init) {
      case tensor_init::zero:
        std::fill_n(out, t.size, 0.0f);
        break;
      case tensor_init::xavier:
        for (std::size_t block = 0; block * 4 < t.size; ++block) {
          auto u = rng(xavier_ordinal, static_cast<std::uint32_t>(block),
                       static_cast<std::uint32_t>(block >> 32), rng_tag::init);
          auto z01 = box_muller(u[0], u[1]);
          auto z23 = box_muller(u[2], u[3]);
          const double z[4] = {z01[0], z01[1], z23[0], z23[1]};
          for (std::size_t lane = 0; lane < 4 && block * 4 + lane < t.size; ++lane)
            out[block * 4 + lane] = static_cast<float>(std * z[lane]);
        }
        ++xavier_ordinal;
        break;
    }
  }
}

void init_params(float* params, model_kind kind, int n, int m, std::uint64_t stream_seed, double std) {
  init_params(params, model_tensors(kind, n, m), stream_seed, std);
}

}  // namespace tms
