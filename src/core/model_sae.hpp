// The sparse autoencoder families (sae_config.hpp says where each recipe comes from), forward and backward
// side by side, on dense inputs h [B][m] (a toy model's hidden activations). Templated on float (training)
// and double (the finite-difference tests).
//
// Key: m inputs, d latents, B batch (at most the workspace's). Tensors as sae_tensors lays them out:
// W_enc [m][d], b_enc [d], W_dec [d][m] (row l: latent l's direction), b_dec [m]; jumprelu log_threshold [d];
// gated W_gate [m][d], b_gate [d], r_mag [d], b_mag [d] with W_mag = W_gate exp(r_mag) (column-wise).
//
//   hc  = h - b_dec                                   [B][m]
//   pre = hc W_enc + b_enc                            [B][d]   (gated: pi_gate = hc W_gate + b_gate)
//   z   = relu:       ReLU(pre)
//         topk:       ReLU(pre) on each sample's k largest pre, 0 elsewhere
//         batch_topk: ReLU(pre) on the batch's B k largest pre (inference: pre where pre > threshold)
//         jumprelu:   pre 1[pre > theta], theta = exp(log_threshold)
//         gated:      1[pi_gate > 0] ReLU(pi_mag), pi_mag = hc W_mag + b_mag
//   h_hat = z W_dec + b_dec                           [B][m]
//   loss = MSE(h_hat, h) (mean over B and m) + the family's term:
//         relu:  coefficient sum_l z_l (mean over B)
//         topk, batch_topk: aux_coefficient MSE(e_hat, e), e = h - h_hat held fixed, e_hat = the k_aux
//                largest ReLU(pre) among the dead latents through W_dec (no bias): AuxK
//         jumprelu: coefficient sum_l 1[pre_l > theta_l] (mean over B), the L0
//         gated: coefficient sum_l ReLU(pi_gate_l) + MSE(ReLU(pi_gate) W_dec + b_dec, h) with W_dec, b_dec
//                held fixed in that term (the frozen decoder)
// The functions are always inlined so that kernels/sae_fast.cpp compiles them whole for each instruction set.
// Straight-through gradients (jumprelu, Rajamanoharan et al.): with the rectangle kernel K(u) = 1[|u| < 1/2]
// and bandwidth eps, d z / d theta = -(theta / eps) K((pre - theta) / eps) and d 1[pre > theta] / d theta
// = -(1 / eps) K((pre - theta) / eps); log_threshold's gradient is theta times theta's. Everywhere else the
// gradient is the exact one of the piecewise-smooth loss (0 through a Heaviside or a selection).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/sae_config.hpp"

namespace tms {

// What a step needs besides the parameters.
struct sae_settings {
  sae_kind kind = sae_kind::relu;
  double coefficient = 0;  // the L1 / L0 coefficient, or k
  int aux_k = 0;           // AuxK (topk families); 0 or aux_coefficient 0: off
  double aux_coefficient = 0;
  double bandwidth = 0.01;  // jumprelu
  bool inference = false;   // batch_topk: the threshold instead of the batch's selection
  double threshold = 0;     // batch_topk's inference threshold
};

// Scratch for one SAE step; sized once for the largest B and d, reused every step.
template <class T>
struct sae_workspace {
  int B = 0, m = 0, d = 0;
  std::vector<T> hc, h_hat, r, aux_hat, r_aux;    // [B][m]
  std::vector<T> pre, mag, z, aux_z, dpre, dmag;  // [B][d]
  std::vector<T> w_mag;                           // [m][d] gated: W_gate exp(r_mag)
  std::vector<T> col_dpre, col_dmag, exp_r;       // [d] (exp_r: gated's exp(r_mag))
  std::vector<T> dW_t;                            // [d][m] the encoder's gradient, transposed
  std::vector<T> dec_t;                           // [m][d] W_dec transposed
  std::vector<T> dz, dz_aux;                      // [B][d] dL/dz of the reconstruction, of the auxiliary term
  std::vector<T> zeros;                           // [d]
  bool aux_active = false;                        // sae_loss computed an auxiliary reconstruction
  std::vector<int> order, candidates;             // [B d] selection scratch
  std::vector<T> candidate_values;                // [B d]
  std::vector<unsigned char> dead;                // [d] 1: a dead latent (AuxK); the trainer sets it
  double batch_min_kept = 0;                      // batch_topk training: the smallest kept value

  void reserve(int B_, int m_, int d_) {
    B = B_;
    m = m_;
    d = d_;
    const auto bm = static_cast<std::size_t>(B_) * m_, bd = static_cast<std::size_t>(B_) * d_;
    for (auto* v : {&hc, &h_hat, &r, &aux_hat, &r_aux}) v->assign(bm, T(0));
    for (auto* v : {&pre, &mag, &z, &aux_z, &dpre, &dmag}) v->assign(bd, T(0));
    w_mag.assign(static_cast<std::size_t>(m_) * d_, T(0));
    col_dpre.assign(d_, T(0));
    exp_r.assign(d_, T(0));
    dW_t.assign(static_cast<std::size_t>(m_) * d_, T(0));
    dec_t.assign(static_cast<std::size_t>(m_) * d_, T(0));
    dz.assign(bd, T(0));
    dz_aux.assign(bd, T(0));
    zeros.assign(d_, T(0));
    col_dmag.assign(d_, T(0));
    order.assign(bd, 0);
    candidates.assign(bd, 0);
    candidate_values.assign(bd, T(0));
    dead.assign(d_, 0);
  }
};

// The loss's terms (each as the loss adds it).
struct sae_loss_terms {
  double total = 0;
  double reconstruction = 0;  // MSE(h_hat, h)
  double sparsity = 0;        // relu / gated: coefficient L1; jumprelu: coefficient L0
  double auxiliary = 0;       // AuxK, or gated's frozen-decoder reconstruction
};

namespace sae_detail {

template <class T>
[[gnu::always_inline]] inline T dot(const T* a, const T* b, int n) {
  T acc = T(0);
  for (int i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// acc [w] = bias + sum_j x_j W_j over one tile of w latents (W_j: that tile's part of row j), the tile held
// in registers across the m rows.
template <int w, class T>
[[gnu::always_inline]] inline void affine_tile(T* o, const T* x, const T* W, const T* bias, int m, int d) {
  T acc[w];
  for (int l = 0; l < w; ++l) acc[l] = bias[l];
  for (int j = 0; j < m; ++j) {
    const T a = x[j];
    const T* Wj = W + static_cast<std::size_t>(j) * d;
    for (int l = 0; l < w; ++l) acc[l] += a * Wj[l];
  }
  for (int l = 0; l < w; ++l) o[l] = acc[l];
}

// out [B][d] = in [B][m] W [m][d] + bias [d]: tiles of 64, then 16 latents, then one at a time.
template <class T>
[[gnu::always_inline]] inline void affine(T* out, const T* in, const T* W, const T* bias, int B, int m,
                                          int d) {
  for (int s = 0; s < B; ++s) {
    T* o = out + static_cast<std::size_t>(s) * d;
    const T* x = in + static_cast<std::size_t>(s) * m;
    int l0 = 0;
    for (; l0 + 64 <= d; l0 += 64) affine_tile<64>(o + l0, x, W + l0, bias + l0, m, d);
    for (; l0 + 16 <= d; l0 += 16) affine_tile<16>(o + l0, x, W + l0, bias + l0, m, d);
    for (; l0 < d; ++l0) affine_tile<1>(o + l0, x, W + l0, bias + l0, m, d);
  }
}

// y [n] += a x [n], for the short rows (n = m, a toy model's hidden size) the live latents touch; restrict
// spares the overlap checks a loop this short would otherwise pay on every call.
template <class T>
[[gnu::always_inline]] inline void axpy(T* __restrict y, T a, const T* __restrict x, int n) {
  for (int j = 0; j < n; ++j) y[j] += a * x[j];
}

// out [m] = bias (or 0) + sum over non-zero latents of z_l W_dec_l.
template <class T>
[[gnu::always_inline]] inline void decode_row(T* out, const T* z, const T* W_dec, const T* bias, int m,
                                              int d) {
  for (int j = 0; j < m; ++j) out[j] = bias ? bias[j] : T(0);
  for (int l = 0; l < d; ++l) {
    const T zl = z[l];
    if (zl == T(0)) continue;
    axpy(out, zl, W_dec + static_cast<std::size_t>(l) * m, m);
  }
}

// The `keep` largest of values[0, count) by (value descending, index ascending): a total order, so the
// selection is unique. Writes their indices, ascending, to order[0, keep) and returns keep (count when
// keep >= count). The k-th largest value comes from nth_element over a copy (scratch [count]); the values
// above it are kept, and of those equal to it the first by index.
template <class T>
int select_largest(int* order, T* scratch, const T* values, int count, int keep) {
  if (keep >= count) {
    for (int i = 0; i < count; ++i) order[i] = i;
    return count;
  }
  if (keep <= 0) return 0;
  std::copy_n(values, count, scratch);
  std::nth_element(scratch, scratch + keep - 1, scratch + count, [](T a, T b) { return a > b; });
  const T kth = scratch[keep - 1];
  int ties = keep;
  for (int i = 0; i < count; ++i) ties -= values[i] > kth ? 1 : 0;
  int out = 0;
  for (int i = 0; i < count; ++i)
    if (values[i] > kth || (values[i] == kth && ties-- > 0)) order[out++] = i;
  return out;
}

// The `keep` largest positive values of values[0, count) (those with mask[i] set, when a mask is given), in
// select_largest's order, into out [keep] (ascending): only positive values can be kept by a ReLU'd
// selection, and a trained SAE has few, so the selection runs over those alone. Returns how many.
template <class T>
int select_largest_positive(int* out, const T* values, const unsigned char* mask, int count, int keep,
                            sae_workspace<T>& ws) {
  int* cand = ws.candidates.data();
  T* cand_values = ws.candidate_values.data();
  int positive = 0;
  for (int i = 0; i < count; ++i)
    if (values[i] > T(0) && (!mask || mask[i])) {
      cand[positive] = i;
      cand_values[positive++] = values[i];
    }
  if (positive <= keep) {
    std::copy_n(cand, positive, out);
    return positive;
  }
  const int kept = select_largest(out, ws.dpre.data(), cand_values, positive, keep);
  for (int i = 0; i < kept; ++i) out[i] = cand[out[i]];
  return kept;
}

}  // namespace sae_detail

// Forward: fills ws.hc, ws.pre (gated also ws.mag, ws.w_mag), ws.z and ws.h_hat for the B rows of h.
template <class T>
[[gnu::always_inline]] inline void sae_forward(const sae_layout& L, const T* params, const T* h, int B,
                                               const sae_settings& s, sae_workspace<T>& ws) {
  using namespace sae_detail;
  const int m = L.m, d = L.d;
  const auto at = [&](const char* name) { return params + L.at(name).offset; };
  const T* b_dec = at("b_dec");
  const std::size_t bd = static_cast<std::size_t>(B) * d;
  for (int q = 0; q < B; ++q)
    for (int j = 0; j < m; ++j)
      ws.hc[static_cast<std::size_t>(q) * m + j] = h[static_cast<std::size_t>(q) * m + j] - b_dec[j];
  T* z = ws.z.data();
  const T* pre = ws.pre.data();
  switch (s.kind) {
    case sae_kind::relu:
      affine(ws.pre.data(), ws.hc.data(), at("W_enc"), at("b_enc"), B, m, d);
      for (std::size_t e = 0; e < bd; ++e) z[e] = pre[e] > T(0) ? pre[e] : T(0);
      break;
    case sae_kind::topk: {
      affine(ws.pre.data(), ws.hc.data(), at("W_enc"), at("b_enc"), B, m, d);
      const int k = static_cast<int>(s.coefficient);
      std::fill_n(z, bd, T(0));
      for (int q = 0; q < B; ++q) {
        const T* p = pre + static_cast<std::size_t>(q) * d;
        T* zq = z + static_cast<std::size_t>(q) * d;
        const int kept =
            select_largest_positive(ws.order.data(), p, static_cast<const unsigned char*>(nullptr), d, k, ws);
        for (int i = 0; i < kept; ++i) zq[ws.order[i]] = p[ws.order[i]];
      }
      break;
    }
    case sae_kind::batch_topk: {
      affine(ws.pre.data(), ws.hc.data(), at("W_enc"), at("b_enc"), B, m, d);
      std::fill_n(z, bd, T(0));
      if (s.inference) {
        const T theta = static_cast<T>(s.threshold);
        for (std::size_t e = 0; e < bd; ++e) z[e] = pre[e] > theta && pre[e] > T(0) ? pre[e] : T(0);
        break;
      }
      const int keep = static_cast<int>(std::min(static_cast<double>(bd), std::floor(s.coefficient * B)));
      const int kept = select_largest_positive(
          ws.order.data(), pre, static_cast<const unsigned char*>(nullptr), static_cast<int>(bd), keep, ws);
      double smallest = 0;
      bool any = false;
      for (int i = 0; i < kept; ++i) {
        const int e = ws.order[i];
        z[e] = pre[e];
        smallest = any ? std::min(smallest, static_cast<double>(pre[e])) : static_cast<double>(pre[e]);
        any = true;
      }
      ws.batch_min_kept = smallest;
      break;
    }
    case sae_kind::jumprelu: {
      affine(ws.pre.data(), ws.hc.data(), at("W_enc"), at("b_enc"), B, m, d);
      const T* log_theta = at("log_threshold");
      for (int q = 0; q < B; ++q)
        for (int l = 0; l < d; ++l) {
          const std::size_t e = static_cast<std::size_t>(q) * d + l;
          z[e] = pre[e] > std::exp(log_theta[l]) ? pre[e] : T(0);
        }
      break;
    }
    case sae_kind::gated: {
      const T* W_gate = at("W_gate");
      const T* r_mag = at("r_mag");
      for (int l = 0; l < d; ++l) ws.exp_r[l] = std::exp(r_mag[l]);
      for (int j = 0; j < m; ++j)
        for (int l = 0; l < d; ++l)
          ws.w_mag[static_cast<std::size_t>(j) * d + l] =
              W_gate[static_cast<std::size_t>(j) * d + l] * ws.exp_r[l];
      affine(ws.pre.data(), ws.hc.data(), W_gate, at("b_gate"), B, m, d);
      affine(ws.mag.data(), ws.hc.data(), ws.w_mag.data(), at("b_mag"), B, m, d);
      const T* mag = ws.mag.data();
      for (std::size_t e = 0; e < bd; ++e) z[e] = pre[e] > T(0) && mag[e] > T(0) ? mag[e] : T(0);
      break;
    }
  }
  const T* W_dec = at("W_dec");
  for (int q = 0; q < B; ++q)
    decode_row(ws.h_hat.data() + static_cast<std::size_t>(q) * m, z + static_cast<std::size_t>(q) * d, W_dec,
               b_dec, m, d);
}

// The loss of the B rows of h (forward included). Leaves ws.r = dMSE/dh_hat and the auxiliary term's
// latents, reconstruction and residual gradient (ws.aux_z, ws.aux_hat, ws.r_aux) for the backward.
template <class T>
[[gnu::always_inline]] inline sae_loss_terms sae_loss(const sae_layout& L, const T* params, const T* h, int B,
                                                      const sae_settings& s, sae_workspace<T>& ws) {
  using namespace sae_detail;
  sae_forward(L, params, h, B, s, ws);
  const int m = L.m, d = L.d;
  const std::size_t bm = static_cast<std::size_t>(B) * m, bd = static_cast<std::size_t>(B) * d;
  const T scale = static_cast<T>(2.0 / (static_cast<double>(B) * m));
  sae_loss_terms out;
  double sq = 0;
  for (std::size_t e = 0; e < bm; ++e) {
    const T diff = ws.h_hat[e] - h[e];
    sq += static_cast<double>(diff) * diff;
    ws.r[e] = scale * diff;
  }
  out.reconstruction = sq / static_cast<double>(bm);
  const T* W_dec = params + L.at("W_dec").offset;
  const T* pre = ws.pre.data();
  switch (s.kind) {
    case sae_kind::relu: {
      double l1 = 0;
      for (std::size_t e = 0; e < bd; ++e) l1 += ws.z[e];
      out.sparsity = s.coefficient * l1 / B;
      break;
    }
    case sae_kind::topk:
    case sae_kind::batch_topk: {
      std::fill_n(ws.aux_z.data(), bd, T(0));
      ws.aux_active = false;
      int dead = 0;
      for (int l = 0; l < d; ++l) dead += ws.dead[l] ? 1 : 0;
      if (s.aux_coefficient == 0 || s.aux_k == 0 || dead == 0) break;
      // Each sample's k_aux largest positive pre-activations among the dead latents.
      const int keep = std::min(s.aux_k, dead);
      double sq_aux = 0;
      for (int q = 0; q < B; ++q) {
        const T* p = pre + static_cast<std::size_t>(q) * d;
        const int kept = select_largest_positive(ws.order.data(), p, ws.dead.data(), d, keep, ws);
        T* aq = ws.aux_z.data() + static_cast<std::size_t>(q) * d;
        for (int i = 0; i < kept; ++i) aq[ws.order[i]] = p[ws.order[i]];
        T* e_hat = ws.aux_hat.data() + static_cast<std::size_t>(q) * m;
        decode_row(e_hat, aq, W_dec, static_cast<const T*>(nullptr), m, d);
        for (int j = 0; j < m; ++j) {
          const std::size_t e = static_cast<std::size_t>(q) * m + j;
          const T diff = e_hat[j] - (h[e] - ws.h_hat[e]);
          sq_aux += static_cast<double>(diff) * diff;
          ws.r_aux[e] = static_cast<T>(s.aux_coefficient) * scale * diff;
        }
      }
      out.auxiliary = s.aux_coefficient * sq_aux / static_cast<double>(bm);
      ws.aux_active = true;
      break;
    }
    case sae_kind::jumprelu: {
      double l0 = 0;
      for (std::size_t e = 0; e < bd; ++e) l0 += ws.z[e] != T(0) ? 1 : 0;
      out.sparsity = s.coefficient * l0 / B;
      break;
    }
    case sae_kind::gated: {
      double l1 = 0;
      for (std::size_t e = 0; e < bd; ++e) {
        ws.aux_z[e] = pre[e] > T(0) ? pre[e] : T(0);
        l1 += ws.aux_z[e];
      }
      out.sparsity = s.coefficient * l1 / B;
      const T* b_dec = params + L.at("b_dec").offset;
      double sq_aux = 0;
      for (int q = 0; q < B; ++q) {
        T* a = ws.aux_hat.data() + static_cast<std::size_t>(q) * m;
        decode_row(a, ws.aux_z.data() + static_cast<std::size_t>(q) * d, W_dec, b_dec, m, d);
        for (int j = 0; j < m; ++j) {
          const std::size_t e = static_cast<std::size_t>(q) * m + j;
          const T diff = a[j] - h[e];
          sq_aux += static_cast<double>(diff) * diff;
          ws.r_aux[e] = scale * diff;
        }
      }
      out.auxiliary = sq_aux / static_cast<double>(bm);
      ws.aux_active = true;
      break;
    }
  }
  out.total = out.reconstruction + out.sparsity + out.auxiliary;
  return out;
}

// sae_loss, and its gradient accumulated (+=) into grad (laid out as params).
template <class T>
[[gnu::always_inline]] inline sae_loss_terms sae_loss_and_grad(const sae_layout& L, T* grad, const T* params,
                                                               const T* h, int B, const sae_settings& s,
                                                               sae_workspace<T>& ws) {
  using namespace sae_detail;
  const sae_loss_terms out = sae_loss(L, params, h, B, s, ws);
  const int m = L.m, d = L.d;
  const std::size_t bd = static_cast<std::size_t>(B) * d;
  const auto at = [&](const char* name) { return params + L.at(name).offset; };
  const auto grad_of = [&](const char* name) { return grad + L.at(name).offset; };
  const T* W_dec = at("W_dec");
  T* dW_dec = grad_of("W_dec");
  T* db_dec = grad_of("b_dec");
  std::fill_n(ws.dpre.data(), bd, T(0));
  if (s.kind == sae_kind::gated) std::fill_n(ws.dmag.data(), bd, T(0));
  const T per_sample = static_cast<T>(s.coefficient / B);
  // dL/dz_l = r . W_dec_l for every latent of every sample at once, through W_dec's transpose: the same sums,
  // vectorised over the latents (a dense product costs less than a dot per live latent at these widths).
  for (int l = 0; l < d; ++l)
    for (int j = 0; j < m; ++j)
      ws.dec_t[static_cast<std::size_t>(j) * d + l] = W_dec[static_cast<std::size_t>(l) * m + j];
  affine(ws.dz.data(), ws.r.data(), ws.dec_t.data(), ws.zeros.data(), B, m, d);
  if (ws.aux_active) affine(ws.dz_aux.data(), ws.r_aux.data(), ws.dec_t.data(), ws.zeros.data(), B, m, d);
  for (int q = 0; q < B; ++q) {
    const T* rq = ws.r.data() + static_cast<std::size_t>(q) * m;
    const T* dzq = ws.dz.data() + static_cast<std::size_t>(q) * d;
    const T* dzaq = ws.dz_aux.data() + static_cast<std::size_t>(q) * d;
    const T* zq = ws.z.data() + static_cast<std::size_t>(q) * d;
    const T* pq = ws.pre.data() + static_cast<std::size_t>(q) * d;
    T* dq = ws.dpre.data() + static_cast<std::size_t>(q) * d;
    for (int j = 0; j < m; ++j) db_dec[j] += rq[j];
    // The decoder and each live latent's dL/dz = r . W_dec_l.
    for (int l = 0; l < d; ++l) {
      if (zq[l] == T(0)) continue;
      axpy(dW_dec + static_cast<std::size_t>(l) * m, zq[l], rq, m);
      const T dz = dzq[l];
      switch (s.kind) {
        case sae_kind::relu:
          dq[l] = dz + per_sample;
          break;
        case sae_kind::topk:
        case sae_kind::batch_topk:
        case sae_kind::jumprelu:
          dq[l] = dz;
          break;
        case sae_kind::gated:
          ws.dmag[static_cast<std::size_t>(q) * d + l] = dz;
          break;
      }
    }
    switch (s.kind) {
      case sae_kind::relu:
        break;
      case sae_kind::topk:
      case sae_kind::batch_topk: {
        // AuxK: the selected dead latents reconstruct e (held fixed) through W_dec.
        const T* aq = ws.aux_z.data() + static_cast<std::size_t>(q) * d;
        const T* ra = ws.r_aux.data() + static_cast<std::size_t>(q) * m;
        for (int l = 0; l < d; ++l) {
          if (aq[l] == T(0)) continue;
          T* gl = dW_dec + static_cast<std::size_t>(l) * m;
          for (int j = 0; j < m; ++j) gl[j] += aq[l] * ra[j];
          dq[l] += dzaq[l];
        }
        break;
      }
      case sae_kind::jumprelu: {
        // The straight-through threshold gradient over the latents within the kernel's window.
        const T* log_theta = at("log_threshold");
        T* dlog = grad_of("log_threshold");
        const T eps = static_cast<T>(s.bandwidth);
        for (int l = 0; l < d; ++l) {
          const T theta = std::exp(log_theta[l]);
          if (!(std::abs(pq[l] - theta) < eps / 2)) continue;
          const T dz = dzq[l];
          const T dtheta = -(theta / eps) * dz - per_sample / eps;
          dlog[l] += theta * dtheta;
        }
        break;
      }
      case sae_kind::gated: {
        // The gate's pre-activation: its L1 and the frozen-decoder reconstruction (no gradient to W_dec).
        for (int l = 0; l < d; ++l)
          if (pq[l] > T(0)) dq[l] = per_sample + dzaq[l];
        break;
      }
    }
  }
  // The encoder: dW[j][l] += sum_s hc_sj dpre_sl; the bias; b_dec through hc = h - b_dec, whose gradient
  // summed over the batch is -W (sum_s dpre_s).
  const bool gated = s.kind == sae_kind::gated;
  const T* W = at(gated ? "W_gate" : "W_enc");
  T* dW = grad_of(gated ? "W_gate" : "W_enc");
  T* db = grad_of(gated ? "b_gate" : "b_enc");
  std::fill_n(ws.col_dpre.data(), d, T(0));
  std::fill_n(ws.col_dmag.data(), d, T(0));
  std::fill_n(ws.dW_t.data(), static_cast<std::size_t>(m) * d, T(0));
  const T* exp_r = ws.exp_r.data();  // gated: exp(r_mag), from the forward
  for (int q = 0; q < B; ++q) {
    const T* hq = ws.hc.data() + static_cast<std::size_t>(q) * m;
    T* dq = ws.dpre.data() + static_cast<std::size_t>(q) * d;
    const T* mq = ws.dmag.data() + static_cast<std::size_t>(q) * d;
    if (gated)  // W_gate also reaches the output through W_mag = W_gate exp(r_mag)
      for (int l = 0; l < d; ++l) {
        ws.col_dmag[l] += mq[l];
        dq[l] += mq[l] * exp_r[l];
      }
    for (int l = 0; l < d; ++l) ws.col_dpre[l] += dq[l];
    // Only the latents with a gradient (the live ones, a few per sample) touch the encoder: their rows of
    // the transposed gradient, contiguous over m.
    for (int l = 0; l < d; ++l) {
      const T a = dq[l];
      if (a == T(0)) continue;
      axpy(ws.dW_t.data() + static_cast<std::size_t>(l) * m, a, hq, m);
    }
  }
  for (int j = 0; j < m; ++j)
    for (int l = 0; l < d; ++l)
      dW[static_cast<std::size_t>(j) * d + l] += ws.dW_t[static_cast<std::size_t>(l) * m + j];
  if (gated) {
    // dq now holds dpi_gate + dpi_mag exp(r): undo the magnitude part for b_gate and the b_dec path.
    const T* b_mag = at("b_mag");
    T* dr = grad_of("r_mag");
    T* db_mag = grad_of("b_mag");
    for (int q = 0; q < B; ++q) {
      const T* mq = ws.dmag.data() + static_cast<std::size_t>(q) * d;
      const T* pm = ws.mag.data() + static_cast<std::size_t>(q) * d;
      for (int l = 0; l < d; ++l) dr[l] += mq[l] * (pm[l] - b_mag[l]);
    }
    for (int l = 0; l < d; ++l) {
      db_mag[l] += ws.col_dmag[l];
      db[l] += ws.col_dpre[l] - ws.col_dmag[l] * exp_r[l];
    }
  } else {
    for (int l = 0; l < d; ++l) db[l] += ws.col_dpre[l];
  }
  // b_dec's encoder path: col_dpre holds sum_s (dpi_gate + dpi_mag exp(r)) for gated, and
  // W_gate (dpi_gate + dpi_mag exp(r)) = W_gate dpi_gate + W_mag dpi_mag.
  for (int j = 0; j < m; ++j) db_dec[j] -= dot(W + static_cast<std::size_t>(j) * d, ws.col_dpre.data(), d);
  return out;
}

// The unit-norm decoder constraint: the gradient of each W_dec row loses its component along the row
// (before the step), and the rows are scaled back to unit norm (after it). A zero row stays zero.
template <class T>
void sae_project_decoder_grad(const sae_layout& L, T* grad, const T* params) {
  const T* W = params + L.at("W_dec").offset;
  T* g = grad + L.at("W_dec").offset;
  for (int l = 0; l < L.d; ++l) {
    const T* w = W + static_cast<std::size_t>(l) * L.m;
    T* gl = g + static_cast<std::size_t>(l) * L.m;
    const T along = sae_detail::dot(gl, w, L.m);
    for (int j = 0; j < L.m; ++j) gl[j] -= along * w[j];
  }
}
template <class T>
void sae_normalise_decoder(const sae_layout& L, T* params) {
  T* W = params + L.at("W_dec").offset;
  for (int l = 0; l < L.d; ++l) {
    T* w = W + static_cast<std::size_t>(l) * L.m;
    double sq = 0;
    for (int j = 0; j < L.m; ++j) sq += static_cast<double>(w[j]) * w[j];
    if (sq == 0) continue;
    const T inv = static_cast<T>(1.0 / std::sqrt(sq));
    for (int j = 0; j < L.m; ++j) w[j] *= inv;
  }
}

}  // namespace tms
