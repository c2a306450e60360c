#include "core/data_sparse.hpp"

#include <cmath>

#include "core/rng.hpp"

namespace tms {

void sample_sparse_batch(sparse_batch<float>& out, std::uint64_t seed, std::int64_t step, double density) {
  const philox rng(seed);
  const int B = out.B, n = out.n;
  const auto c0 = static_cast<std::uint32_t>(step + 1);  // counter word 0 is reserved (0 = initialisation)
  int nnz = 0;
  if (density >= geometric_below) {
    // x_i active iff u < density 2^32 (a 33-bit threshold so that density 1 is always active).
    const auto threshold = static_cast<std::uint64_t>(std::ldexp(density, 32));
    for (int b = 0; b < B; ++b) {
      out.offset[b] = nnz;
      for (int i = 0; i < n; i += 2) {
        auto u =
            rng(c0, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(i / 2), rng_tag::bernoulli);
        for (int k = 0; k < 2 && i + k < n; ++k)
          if (u[2 * k] < threshold) {
            out.index[nnz] = i + k;
            out.value[nnz] = uniform_float(u[2 * k + 1]);
            ++nnz;
          }
      }
    }
  } else {
    // Gap to the next active feature ~ Geometric(density): floor(log U / log(1 - density)), U on (0, 1].
    const double log_keep = std::log1p(-density);
    for (int b = 0; b < B; ++b) {
      out.offset[b] = nnz;
      int i = -1;
      std::uint32_t block = 0;
      while (true) {
        auto u = rng(c0, static_cast<std::uint32_t>(b), block++, rng_tag::geometric);
        bool done = false;
        for (int k = 0; k < 2; ++k) {
          double gap = std::floor(std::log(uniform_open0(u[2 * k])) / log_keep);
          if (gap >= static_cast<double>(n - 1 - i)) {
            done = true;
            break;
          }
          i += 1 + static_cast<int>(gap);
          out.index[nnz] = i;
          out.value[nnz] = uniform_float(u[2 * k + 1]);
          ++nnz;
        }
        if (done) break;
      }
    }
  }
  out.offset[B] = nnz;
}

}  // namespace tms
