// One training step's maths for any model: parameters in, loss and gradient out. The trainer, the optimizer
// and the tests see a model only through this file: a new model is a model_<name>.hpp beside the others
// (forward and backward side by side), its entry in the table of tensors (model_tensors.hpp) and one case
// in each switch here.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "core/config.hpp"
#include "core/errors.hpp"
#include "core/loss_weighted_mse.hpp"
#include "core/model_abs.hpp"
#include "core/model_linear.hpp"
#include "core/model_relu_hidden.hpp"
#include "core/model_relu_output.hpp"
#include "core/model_tensors.hpp"

namespace tms {

// P, one instance's parameter count (the table's).
inline std::size_t model_param_count(model_kind kind, int n, int m, bool hidden_bias = false) {
  return model_tensors(kind, n, m, hidden_bias).params;
}

// Scratch for one step of one instance; sized once, reused every step.
template <class T>
struct model_workspace {
  sparse_batch<T> x;
  std::vector<T> h;      // [B][m]
  std::vector<T> x_hat;  // [B][n]
  std::vector<T> r;      // [B][n] residual, then dL/dx'
  std::vector<T> dh;     // [B][m]
  std::vector<T> w_t;    // [m][n] a transposed weight matrix (abs_forward's W_out^T)

  void reserve(int B, int n, int m) {
    x.reserve(B, n);
    h.assign(static_cast<std::size_t>(B) * m, T(0));
    x_hat.assign(static_cast<std::size_t>(B) * n, T(0));
    r.assign(static_cast<std::size_t>(B) * n, T(0));
    dh.assign(static_cast<std::size_t>(B) * m, T(0));
    w_t.assign(static_cast<std::size_t>(m) * n, T(0));
  }
};

// Forward only: fills ws.h and ws.x_hat for the batch in ws.x (params laid out as L says).
template <class T>
void model_forward(const model_layout& L, const T* params, model_workspace<T>& ws) {
  const int n = L.n, m = L.m;
  const auto at = [&](const char* name) { return params + L.at(name).offset; };
  const auto hidden_bias = [&]() -> const T* { return L.hidden_bias ? at("b_hidden") : nullptr; };
  switch (L.kind) {
    case model_kind::linear:
      linear_forward(ws.x_hat.data(), ws.h.data(), ws.x, at("W"), at("b"), n, m);
      return;
    case model_kind::relu_output:
      relu_output_forward(ws.x_hat.data(), ws.h.data(), ws.x, at("W"), at("b"), n, m);
      return;
    case model_kind::relu_hidden:
      relu_hidden_forward(ws.x_hat.data(), ws.h.data(), ws.x, at("W"), at("b"), hidden_bias(), n, m);
      return;
    case model_kind::abs:
      abs_forward(ws.x_hat.data(), ws.h.data(), ws.w_t.data(), ws.x, at("W_in"), at("W_out"), at("b"),
                  hidden_bias(), n, m);
      return;
  }
  throw run_error("model_forward: unknown model kind");
}

// The hidden activations alone, as model_forward leaves them in ws.h (without the output): W x for linear
// and relu, ReLU(W x + b_hidden) for relu-hidden, ReLU(W_in x + b_hidden) for abs. The SAEs' inputs.
template <class T>
void model_hidden(const model_layout& L, const T* params, model_workspace<T>& ws) {
  bool rectify = false;
  switch (L.kind) {
    case model_kind::linear:
    case model_kind::relu_output:
      rectify = false;
      break;
    case model_kind::relu_hidden:
    case model_kind::abs:
      rectify = true;
      break;
  }
  const T* E = params + L.at(L.embedding).offset;
  const T* b_hidden = L.hidden_bias ? params + L.at("b_hidden").offset : nullptr;
  for (int s = 0; s < ws.x.B; ++s)
    hidden_row(ws.h.data() + static_cast<std::size_t>(s) * L.m, ws.x, s, E, b_hidden, rectify, L.m);
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

// The training loss of the batch in ws.x: the weighted MSE against the model's target (loss_weighted_mse.hpp)
// plus the L1 penalty. Forward only (ws.r holds the residual afterwards). The target is built from ws.x, or
// from `clean` when given (adversarial training: ws.x holds the attacked inputs, `clean` the samples they
// were made from, with the same B and n).
template <class T>
double model_loss(const model_layout& L, const T* params, const T* importance, model_workspace<T>& ws,
                  double l1 = 0, const sparse_batch<T>* clean = nullptr) {
  model_forward(L, params, ws);
  return weighted_mse_forward(ws.r.data(), ws.x_hat.data(), clean ? *clean : ws.x, importance, L.n,
                              L.target == model_target::absolute) +
         hidden_l1_penalty(ws, L.m, l1);
}

// model_loss, and its gradient accumulated (+=) into grad (laid out as params). With `clean`, the gradient
// holds the attacked inputs ws.x fixed (they are data to the step).
template <class T>
double model_loss_and_grad(const model_layout& L, T* grad, const T* params, const T* importance,
                           model_workspace<T>& ws, double l1 = 0, const sparse_batch<T>* clean = nullptr) {
  const int n = L.n, m = L.m;
  const auto at = [&](const char* name) { return params + L.at(name).offset; };
  const auto grad_of = [&](const char* name) { return grad + L.at(name).offset; };
  T* db_hidden = L.hidden_bias ? grad_of("b_hidden") : nullptr;
  const double loss = model_loss(L, params, importance, ws, l1, clean);
  weighted_mse_backward(ws.r.data(), ws.r.data(), importance, ws.x.B, n);
  const T l1_scale = static_cast<T>(l1 / ws.x.B);
  switch (L.kind) {
    case model_kind::linear:
      linear_backward(grad_of("W"), grad_of("b"), ws.dh.data(), ws.r.data(), ws.h.data(), ws.x, at("W"), n, m,
                      l1_scale);
      break;
    case model_kind::relu_output:
      relu_output_backward(grad_of("W"), grad_of("b"), ws.dh.data(), ws.r.data(), ws.x_hat.data(),
                           ws.h.data(), ws.x, at("W"), n, m, l1_scale);
      break;
    case model_kind::relu_hidden:
      relu_hidden_backward(grad_of("W"), grad_of("b"), db_hidden, ws.dh.data(), ws.r.data(), ws.x_hat.data(),
                           ws.h.data(), ws.x, at("W"), n, m, l1_scale);
      break;
    case model_kind::abs:
      abs_backward(grad_of("W_in"), grad_of("W_out"), grad_of("b"), db_hidden, ws.dh.data(), ws.r.data(),
                   ws.x_hat.data(), ws.h.data(), ws.x, at("W_out"), n, m, l1_scale);
      break;
  }
  return loss;
}

// The same for a kind without a hidden bias, its layout built on each call: for tests and one-off
// evaluations, not for loops.
template <class T>
void model_forward(model_kind kind, const T* params, int n, int m, model_workspace<T>& ws) {
  model_forward(model_tensors(kind, n, m), params, ws);
}
template <class T>
double model_loss_and_grad(model_kind kind, T* grad, const T* params, const T* importance, int n, int m,
                           model_workspace<T>& ws, double l1 = 0) {
  return model_loss_and_grad(model_tensors(kind, n, m), grad, params, importance, ws, l1);
}

}  // namespace tms
