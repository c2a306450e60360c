// The ReLU hidden-layer model (paper E18, "Privileged Basis"): h = ReLU(W x + b_hidden), x' = ReLU(W^T h +
// b), W tied, b_hidden optional (none: 0). The ReLU on h makes the hidden basis privileged: features can
// align with neurons (monosemantic) or share them (polysemantic), which the linear bottleneck of the other
// models cannot tell apart.
//
// Key: n features, m hidden neurons, B batch; W [n][m] (row i = the paper's W_i, feature i's weights into
// the m neurons), b [n], b_hidden [m] or null. Backward accumulates (+=) into dW and db, which the caller
// zeroes.
#pragma once

#include "core/data_sparse.hpp"

namespace tms {

// h [B][m] = ReLU(sum over active i of x_i W_i + b_hidden),  x_hat [B][n] = ReLU(W h + b).
template <class T>
void relu_hidden_forward(T* x_hat, T* h, const sparse_batch<T>& x, const T* W, const T* b, const T* b_hidden,
                         int n, int m) {
  for (int s = 0; s < x.B; ++s) {
    T* hs = h + static_cast<std::size_t>(s) * m;
    for (int k = 0; k < m; ++k) hs[k] = b_hidden ? b_hidden[k] : T(0);
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
      const T* Wi = W + static_cast<std::size_t>(x.index[e]) * m;
      const T xi = x.value[e];
      for (int k = 0; k < m; ++k) hs[k] += xi * Wi[k];
    }
    for (int k = 0; k < m; ++k) hs[k] = hs[k] > T(0) ? hs[k] : T(0);
    T* out = x_hat + static_cast<std::size_t>(s) * n;
    for (int i = 0; i < n; ++i) {
      const T* Wi = W + static_cast<std::size_t>(i) * m;
      T acc = b[i];
      for (int k = 0; k < m; ++k) acc += Wi[k] * hs[k];
      out[i] = acc > T(0) ? acc : T(0);
    }
  }
}

// d_xhat [B][n] (in: dL/dx', overwritten with dL/d(output pre-activation)). The ReLUs' derivative is 1 above
// 0, else 0 (the subgradient 0 at the kink); x_hat > 0 and h > 0 serve as the masks. Accumulates
//   db_i += sum_s g_si,   dW_i += sum_s g_si h_s                      (x' = ReLU(W^T h + b): output side)
//   dW_i += sum_s x_si dz_s, dz_s = [h_s > 0] (sum_i g_si W_i)        (h = ReLU(W x): input side)
// dh [B][m] is scratch. With an L1 penalty l1_scale sum_s sum_j |h_sj| (l1_scale = l1 / B; h >= 0, so
// |h| = h), dz_s also gains l1_scale [h_s > 0]. With a hidden bias, db_hidden += sum_s dz_s.
template <class T>
void relu_hidden_backward(T* dW, T* db, T* db_hidden, T* dh, T* d_xhat, const T* x_hat, const T* h,
                          const sparse_batch<T>& x, const T* W, int n, int m, T l1_scale = T(0)) {
  for (int s = 0; s < x.B; ++s) {
    T* g = d_xhat + static_cast<std::size_t>(s) * n;
    const T* xs = x_hat + static_cast<std::size_t>(s) * n;
    const T* hs = h + static_cast<std::size_t>(s) * m;
    T* dhs = dh + static_cast<std::size_t>(s) * m;
    for (int k = 0; k < m; ++k) dhs[k] = T(0);
    for (int i = 0; i < n; ++i) {
      if (!(xs[i] > T(0))) g[i] = T(0);
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
    for (int k = 0; k < m; ++k) dhs[k] = hs[k] > T(0) ? dhs[k] + l1_scale : T(0);
    if (db_hidden)
      for (int k = 0; k < m; ++k) db_hidden[k] += dhs[k];
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
      T* dWi = dW + static_cast<std::size_t>(x.index[e]) * m;
      const T xi = x.value[e];
      for (int k = 0; k < m; ++k) dWi[k] += xi * dhs[k];
    }
  }
}

}  // namespace tms
