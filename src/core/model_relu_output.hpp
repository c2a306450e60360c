// The ReLU output model (paper, "The Model"): h = W x, x' = ReLU(W^T h + b) = ReLU(W^T W x + b).
// It is the linear model with a ReLU on the output, so it reuses linear_forward / linear_backward.
//
// Key: n features, m hidden, B batch; W [n][m] (row i = the paper's W_i), b [n].
#pragma once

#include "core/model_linear.hpp"

namespace tms {

// x_hat [B][n] = ReLU(W h + b), h [B][m] = W x.
template <class T>
void relu_output_forward(T* x_hat, T* h, const sparse_batch<T>& x, const T* W, const T* b, int n, int m) {
  linear_forward(x_hat, h, x, W, b, n, m);
  const std::size_t size = static_cast<std::size_t>(x.B) * n;
  for (std::size_t j = 0; j < size; ++j) x_hat[j] = x_hat[j] > T(0) ? x_hat[j] : T(0);
}

// d_xhat [B][n] (in: dL/dx', overwritten with dL/d(pre-activation)). ReLU'(z) = 1 for z > 0, else 0; x_hat >
// 0 exactly when the pre-activation is > 0, so x_hat serves as the mask (at z = 0 the subgradient 0 is used).
template <class T>
void relu_output_backward(T* dW, T* db, T* dh, T* d_xhat, const T* x_hat, const T* h,
                          const sparse_batch<T>& x, const T* W, int n, int m, T l1_scale = T(0)) {
  const std::size_t size = static_cast<std::size_t>(x.B) * n;
  for (std::size_t j = 0; j < size; ++j)
    if (!(x_hat[j] > T(0))) d_xhat[j] = T(0);
  linear_backward(dW, db, dh, d_xhat, h, x, W, n, m, l1_scale);
}

}  // namespace tms
