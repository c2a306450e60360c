// The importance-weighted squared error (paper, "The Loss"): L = sum_x sum_i I_i (x_i - x'_i)^2, taken as the
// companion notebook does: the mean over batch and features for each instance, L = 1/(B n) sum_s sum_i
// I_i (x_si - x'_si)^2. (A mean instead of a sum only rescales the loss; the optimum does not move.)
#pragma once

#include <cmath>

#include "core/data_sparse.hpp"

namespace tms {

// r [B][n] = x' - target (the residual, kept for the backward), the target x itself or, with `absolute`,
// |x| (the abs model's); returns L in double.
template <class T>
double weighted_mse_forward(T* r, const T* x_hat, const sparse_batch<T>& x, const T* importance, int n,
                            bool absolute = false) {
  double total = 0;
  for (int s = 0; s < x.B; ++s) {
    T* rs = r + static_cast<std::size_t>(s) * n;
    const T* xs = x_hat + static_cast<std::size_t>(s) * n;
    for (int i = 0; i < n; ++i) rs[i] = xs[i];
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e)
      rs[x.index[e]] -= absolute ? std::abs(x.value[e]) : x.value[e];
    double row = 0;
    for (int i = 0; i < n; ++i) row += static_cast<double>(importance[i]) * rs[i] * rs[i];
    total += row;
  }
  return total / (static_cast<double>(x.B) * n);
}

// d_xhat [B][n] = dL/dx' = 2 I_i r_si / (B n). May alias r.
template <class T>
void weighted_mse_backward(T* d_xhat, const T* r, const T* importance, int B, int n) {
  const T scale = T(2) / (static_cast<T>(B) * static_cast<T>(n));
  for (int s = 0; s < B; ++s)
    for (int i = 0; i < n; ++i) {
      const std::size_t j = static_cast<std::size_t>(s) * n + i;
      d_xhat[j] = scale * importance[i] * r[j];
    }
}

}  // namespace tms
