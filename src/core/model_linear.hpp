// The linear model (paper, "The Model"): h = W x, x' = W^T h + b = W^T W x + b.
//
// Key: n features, m hidden dimensions, B batch. W is stored [n][m], one row per feature: row i is the
// paper's column W_i, the direction that represents feature i (the companion notebook's layout).
// Forward and backward side by side; backward accumulates (+=) into dW and db, which the caller zeroes.
#pragma once

#include "core/data_sparse.hpp"
#include "core/model_hidden.hpp"

namespace tms {

// x_hat [B][n] = W h + b,  h [B][m] = sum over active i of x_i W_i  (only the active features are read).
template <class T>
void linear_forward(T* x_hat, T* h, const sparse_batch<T>& x, const T* W, const T* b, int n, int m) {
  for (int s = 0; s < x.B; ++s) {
    T* hs = h + static_cast<std::size_t>(s) * m;
    hidden_row(hs, x, s, W, static_cast<const T*>(nullptr), false, m);
    T* out = x_hat + static_cast<std::size_t>(s) * n;
    for (int i = 0; i < n; ++i) {
      const T* Wi = W + static_cast<std::size_t>(i) * m;
      T acc = T(0);
      for (int k = 0; k < m; ++k) acc += Wi[k] * hs[k];
      out[i] = acc + b[i];
    }
  }
}

// Given d_xhat [B][n] = dL/dx', accumulates
//   db_i += sum_s d_xhat_si
//   dW_i += sum_s d_xhat_si h_s              (x' = W^T h: the output side of the tied W)
//   dW_i += sum_s x_si dh_s, with dh_s = sum_i d_xhat_si W_i   (h = W x: the input side)
// dh [B][m] is scratch. Zero entries of d_xhat (ReLU off, or exact fits) are skipped. With an L1 penalty
// l1_scale sum_s sum_j |h_sj| on the loss (l1_scale = l1 / B), dh_s also gains l1_scale sign(h_s) (the
// subgradient 0 at h = 0) before the input side.
template <class T>
void linear_backward(T* dW, T* db, T* dh, const T* d_xhat, const T* h, const sparse_batch<T>& x, const T* W,
                     int n, int m, T l1_scale = T(0)) {
  for (int s = 0; s < x.B; ++s) {
    const T* g = d_xhat + static_cast<std::size_t>(s) * n;
    const T* hs = h + static_cast<std::size_t>(s) * m;
    T* dhs = dh + static_cast<std::size_t>(s) * m;
    for (int k = 0; k < m; ++k) dhs[k] = T(0);
    for (int i = 0; i < n; ++i) {
      const T gi = g[i];
      if (gi == T(0)) continue;
      db[i] += gi;
      T* dWi = dW + static_cast<std::size_t>(i) * m;
      const T* Wi = W + static_cast<std::size_t>(i) * m;
      for (int k = 0; k < m; ++k) {
        dWi[k] += gi * hs[k];
        dhs[k] += gi * Wi[k];
      }
    }
    if (l1_scale != T(0))
      for (int k = 0; k < m; ++k) dhs[k] += hs[k] > T(0) ? l1_scale : hs[k] < T(0) ? -l1_scale : T(0);
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
      T* dWi = dW + static_cast<std::size_t>(x.index[e]) * m;
      const T xi = x.value[e];
      for (int k = 0; k < m; ++k) dWi[k] += xi * dhs[k];
    }
  }
}

}  // namespace tms
