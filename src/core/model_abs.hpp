// The absolute-value model (paper E19-E21, "Computation in Superposition"): h = ReLU(W_in x + b_hidden),
// y' = ReLU(W_out h + b), untied, trained to output |x| of signed inputs. Computing |x| needs the hidden
// ReLU (|x| = ReLU(x) + ReLU(-x)), so the neurons do work, not only storage.
//
// Key: n features, m hidden neurons, B batch; W_in [n][m] (row i: feature i's weights into the m neurons,
// so h_s = ReLU(sum over active i of x_si W_in_i)), W_out [n][m] (row i: the neurons' weights to output i),
// b [n], b_hidden [m] or null (no hidden bias). Backward accumulates (+=) into the gradients, which the
// caller zeroes.
#pragma once

#include "core/data_sparse.hpp"
#include "core/model_hidden.hpp"

namespace tms {

// h [B][m] = ReLU(sum over active i of x_i W_in_i + b_hidden),  y [B][n] = ReLU(W_out h + b).
// W_out_t [m][n] is scratch for W_out's transpose: with it the output pre-activations are sums of whole rows,
// h_sk W_out^T_k over the live neurons k, which vectorise over the n outputs, instead of n dot products of
// length m (reductions the compiler must keep in order, so scalar) -- 4x faster at n = 100, m = 40.
template <class T>
void abs_forward(T* y, T* h, T* W_out_t, const sparse_batch<T>& x, const T* W_in, const T* W_out, const T* b,
                 const T* b_hidden, int n, int m) {
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < m; ++k)
      W_out_t[static_cast<std::size_t>(k) * n + i] = W_out[static_cast<std::size_t>(i) * m + k];
  for (int s = 0; s < x.B; ++s) {
    T* hs = h + static_cast<std::size_t>(s) * m;
    hidden_row(hs, x, s, W_in, b_hidden, true, m);
    T* out = y + static_cast<std::size_t>(s) * n;
    for (int i = 0; i < n; ++i) out[i] = b[i];
    for (int k = 0; k < m; ++k) {
      const T hk = hs[k];
      if (hk == T(0)) continue;  // a neuron off for this sample adds nothing
      const T* Wk = W_out_t + static_cast<std::size_t>(k) * n;
      for (int i = 0; i < n; ++i) out[i] += hk * Wk[i];
    }
    for (int i = 0; i < n; ++i) out[i] = out[i] > T(0) ? out[i] : T(0);
  }
}

// d_y [B][n] (in: dL/dy', overwritten with dL/d(output pre-activation) g). ReLU' is 1 above 0, else 0 (the
// subgradient 0 at the kink); y > 0 and h > 0 are the masks. Accumulates
//   db_i += sum_s g_si,  dW_out_i += sum_s g_si h_s                         (output layer)
//   dz_s = [h_s > 0] (sum_i g_si W_out_i + l1_scale)                         (hidden ReLU; L1 on h >= 0)
//   dW_in_i += sum_s x_si dz_s,  db_hidden += sum_s dz_s (when not null)     (input layer)
// dh [B][m] is scratch; l1_scale = l1 / B for the penalty l1 mean_s sum_j |h_sj|.
template <class T>
void abs_backward(T* dW_in, T* dW_out, T* db, T* db_hidden, T* dh, T* d_y, const T* y, const T* h,
                  const sparse_batch<T>& x, const T* W_out, int n, int m, T l1_scale = T(0)) {
  for (int s = 0; s < x.B; ++s) {
    T* g = d_y + static_cast<std::size_t>(s) * n;
    const T* ys = y + static_cast<std::size_t>(s) * n;
    const T* hs = h + static_cast<std::size_t>(s) * m;
    T* dhs = dh + static_cast<std::size_t>(s) * m;
    for (int k = 0; k < m; ++k) dhs[k] = T(0);
    for (int i = 0; i < n; ++i) {
      if (!(ys[i] > T(0))) g[i] = T(0);
      const T gi = g[i];
      if (gi == T(0)) continue;
      db[i] += gi;
      T* dWi = dW_out + static_cast<std::size_t>(i) * m;
      const T* Wi = W_out + static_cast<std::size_t>(i) * m;
      for (int k = 0; k < m; ++k) {
        dWi[k] += gi * hs[k];
        dhs[k] += gi * Wi[k];
      }
    }
    for (int k = 0; k < m; ++k) dhs[k] = hs[k] > T(0) ? dhs[k] + l1_scale : T(0);
    if (db_hidden)
      for (int k = 0; k < m; ++k) db_hidden[k] += dhs[k];
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
      T* dWi = dW_in + static_cast<std::size_t>(x.index[e]) * m;
      const T xi = x.value[e];
      for (int k = 0; k < m; ++k) dWi[k] += xi * dhs[k];
    }
  }
}

}  // namespace tms
