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
#include "core/model_abs.hpp"
#include "core/model_hidden.hpp"

namespace tms {

// h [B][m] = ReLU(sum over active i of x_i W_i + b_hidden),  x_hat [B][n] = ReLU(W h + b).
template <class T>
void relu_hidden_forward(T* x_hat, T* h, const sparse_batch<T>& x, const T* W, const T* b, const T* b_hidden,
                         int n, int m) {
  for (int s = 0; s < x.B; ++s) {
    T* hs = h + static_cast<std::size_t>(s) * m;
    hidden_row(hs, x, s, W, b_hidden, true, m);
    T* out = x_hat + static_cast<std::size_t>(s) * n;
    for (int i = 0; i < n; ++i) {
      const T* Wi = W + static_cast<std::size_t>(i) * m;
      T acc = b[i];
      for (int k = 0; k < m; ++k) acc += Wi[k] * hs[k];
      out[i] = acc > T(0) ? acc : T(0);
    }
  }
}

// d_xhat [B][n] (in: dL/dx', overwritten with dL/d(output pre-activation)). The tied model is the abs model's
// maths (model_abs.hpp) with W_in = W_out = W, its two gradients accumulated into one dW in the same order
// (per sample: the output side, then the input side): db_i += g_i, dW_i += g_i h + x_i dz, with
// dz = [h > 0] (sum_i g_i W_i + l1_scale) and db_hidden += dz (when not null). dh [B][m] is scratch.
template <class T>
void relu_hidden_backward(T* dW, T* db, T* db_hidden, T* dh, T* d_xhat, const T* x_hat, const T* h,
                          const sparse_batch<T>& x, const T* W, int n, int m, T l1_scale = T(0)) {
  abs_backward(dW, dW, db, db_hidden, dh, d_xhat, x_hat, h, x, W, n, m, l1_scale);
}

}  // namespace tms
