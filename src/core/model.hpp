// One training step's maths for any model: parameters in, loss and gradient out. The trainer, the optimizer
// and the tests see a model only through this file, so a new model is a new model_<name>.hpp beside the
// others plus one case here (and its parameter layout in model_param_count).
//
// Parameter layout of the tied models (linear, ReLU output, ReLU hidden), per instance: W [n][m], then b [n].
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "core/config.hpp"
#include "core/errors.hpp"
#include "core/loss_weighted_mse.hpp"
#include "core/model_linear.hpp"
#include "core/model_relu_hidden.hpp"
#include "core/model_relu_output.hpp"

namespace tms {

inline std::size_t model_param_count(model_kind kind, int n, int m) {
  switch (kind) {
    case model_kind::linear:
    case model_kind::relu_output:
    case model_kind::relu_hidden:
      return static_cast<std::size_t>(n) * m + static_cast<std::size_t>(n);
  }
  throw run_error("model_param_count: unknown model kind");
}

// Scratch for one step of one instance; sized once, reused every step.
template <class T>
struct model_workspace {
  sparse_batch<T> x;
  std::vector<T> h;      // [B][m]
  std::vector<T> x_hat;  // [B][n]
  std::vector<T> r;      // [B][n] residual, then dL/dx'
  std::vector<T> dh;     // [B][m]

  void reserve(int B, int n, int m) {
    x.reserve(B, n);
    h.assign(static_cast<std::size_t>(B) * m, T(0));
    x_hat.assign(static_cast<std::size_t>(B) * n, T(0));
    r.assign(static_cast<std::size_t>(B) * n, T(0));
    dh.assign(static_cast<std::size_t>(B) * m, T(0));
  }
};

// Forward only: fills ws.h and ws.x_hat for the batch in ws.x.
template <class T>
void model_forward(model_kind kind, const T* params, int n, int m, model_workspace<T>& ws) {
  const T* W = params;
  const T* b = params + static_cast<std::size_t>(n) * m;
  switch (kind) {
    case model_kind::linear:
      linear_forward(ws.x_hat.data(), ws.h.data(), ws.x, W, b, n, m);
      return;
    case model_kind::relu_output:
      relu_output_forward(ws.x_hat.data(), ws.h.data(), ws.x, W, b, n, m);
      return;
    case model_kind::relu_hidden:
      relu_hidden_forward(ws.x_hat.data(), ws.h.data(), ws.x, W, b, n, m);
      return;
  }
  throw run_error("model_forward: unknown model kind");
}

// The L1 penalty on the hidden activations (paper E22): l1 x the mean over the batch of sum_j |h_sj|, h the
// hidden activations of the last forward (ws.h: W x, or ReLU(W x) for relu_hidden). 0 when l1 = 0.
template <class T>
double hidden_l1_penalty(const model_workspace<T>& ws, int m, double l1) {
  if (l1 == 0) return 0;
  double total = 0;
  const std::size_t size = static_cast<std::size_t>(ws.x.B) * m;
  for (std::size_t j = 0; j < size; ++j) total += std::abs(static_cast<double>(ws.h[j]));
  return l1 * total / ws.x.B;
}

// The training loss of the batch in ws.x: the weighted MSE (loss_weighted_mse.hpp) plus the L1 penalty.
// Forward only (ws.r holds the residual afterwards).
template <class T>
double model_loss(model_kind kind, const T* params, const T* importance, int n, int m, model_workspace<T>& ws,
                  double l1 = 0) {
  model_forward(kind, params, n, m, ws);
  return weighted_mse_forward(ws.r.data(), ws.x_hat.data(), ws.x, importance, n) +
         hidden_l1_penalty(ws, m, l1);
}

// model_loss, and its gradient accumulated (+=) into grad (same layout as params).
template <class T>
double model_loss_and_grad(model_kind kind, T* grad, const T* params, const T* importance, int n, int m,
                           model_workspace<T>& ws, double l1 = 0) {
  const T* W = params;
  T* dW = grad;
  T* db = grad + static_cast<std::size_t>(n) * m;
  const double loss = model_loss(kind, params, importance, n, m, ws, l1);
  weighted_mse_backward(ws.r.data(), ws.r.data(), importance, ws.x.B, n);
  const T l1_scale = static_cast<T>(l1 / ws.x.B);
  switch (kind) {
    case model_kind::linear:
      linear_backward(dW, db, ws.dh.data(), ws.r.data(), ws.h.data(), ws.x, W, n, m, l1_scale);
      break;
    case model_kind::relu_output:
      relu_output_backward(dW, db, ws.dh.data(), ws.r.data(), ws.x_hat.data(), ws.h.data(), ws.x, W, n, m,
                           l1_scale);
      break;
    case model_kind::relu_hidden:
      relu_hidden_backward(dW, db, ws.dh.data(), ws.r.data(), ws.x_hat.data(), ws.h.data(), ws.x, W, n, m,
                           l1_scale);
      break;
  }
  return loss;
}

}  // namespace tms
