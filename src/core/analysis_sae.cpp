#include "core/analysis_sae.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/metrics.hpp"

namespace tms {

std::vector<int> max_assignment(const std::vector<double>& score, int rows, int cols) {
  std::vector<int> out(rows, -1);
  if (rows == 0 || cols == 0) return out;
  const bool transpose = rows > cols;  // the method assigns every row of an R <= C matrix
  const int R = transpose ? cols : rows, C = transpose ? rows : cols;
  const auto cost = [&](int r, int c) {  // minimise -score; 1-based
    return transpose ? -score[static_cast<std::size_t>(c - 1) * cols + (r - 1)]
                     : -score[static_cast<std::size_t>(r - 1) * cols + (c - 1)];
  };
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(R + 1, 0), v(C + 1, 0);
  std::vector<int> p(C + 1, 0), way(C + 1, 0);
  for (int i = 1; i <= R; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(C + 1, inf);
    std::vector<char> used(C + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= C; ++j) {
        if (used[j]) continue;
        const double cur = cost(i0, j) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= C; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  for (int j = 1; j <= C; ++j) {
    if (p[j] == 0) continue;
    if (transpose)
      out[j - 1] = p[j] - 1;
    else
      out[p[j] - 1] = j - 1;
  }
  return out;
}

sae_scorer::sae_scorer(const float* W, int n, int m, const float* W_dec, int d)
    : n_(n),
      m_(m),
      d_(d),
      represented_(n, 0),
      cosine_(static_cast<std::size_t>(n) * d, 0),
      latent_of_(n, -1) {
  std::vector<double> dec_norm(d);
  for (int l = 0; l < d; ++l) {
    const float* u = W_dec + static_cast<std::size_t>(l) * m;
    dec_norm[l] = std::sqrt(row_dot(u, u, m));
  }
  std::vector<int> rep;
  for (int i = 0; i < n; ++i) {
    const float* w = W + static_cast<std::size_t>(i) * m;
    const double norm = std::sqrt(row_dot(w, w, m));
    represented_[i] = norm > represented_norm;
    if (!represented_[i]) continue;
    rep.push_back(i);
    for (int l = 0; l < d; ++l)
      cosine_[static_cast<std::size_t>(i) * d + l] =
          dec_norm[l] > 0 ? row_dot(w, W_dec + static_cast<std::size_t>(l) * m, m) / (norm * dec_norm[l]) : 0;
  }
  std::vector<double> sub(rep.size() * static_cast<std::size_t>(d));
  for (std::size_t r = 0; r < rep.size(); ++r)
    std::copy_n(cosine_.data() + static_cast<std::size_t>(rep[r]) * d, d, sub.data() + r * d);
  const std::vector<int> a = max_assignment(sub, static_cast<int>(rep.size()), d);
  for (std::size_t r = 0; r < rep.size(); ++r) latent_of_[rep[r]] = a[r];
  feature_count_.assign(n, 0);
  absorbed_count_.assign(n, 0);
  latent_count_.assign(d, 0);
  coactive_.assign(static_cast<std::size_t>(n) * d, 0);
  sum_x_.assign(n, 0);
  sum_xx_.assign(n, 0);
  sum_z_.assign(d, 0);
  sum_zz_.assign(d, 0);
  sum_xz_.assign(static_cast<std::size_t>(n) * d, 0);
  sum_h_.assign(m, 0);
  live_.reserve(d);
}

void sae_scorer::add(const sparse_batch<float>& x, const float* h, const float* z, const float* h_hat,
                     int B) {
  const int m = m_, d = d_;
  for (int s = 0; s < B; ++s) {
    const float* hs = h + static_cast<std::size_t>(s) * m;
    const float* es = h_hat + static_cast<std::size_t>(s) * m;
    const float* zs = z + static_cast<std::size_t>(s) * d;
    for (int j = 0; j < m; ++j) {
      const double hj = hs[j], ej = es[j];
      err_sq_ += (ej - hj) * (ej - hj);
      h_sq_ += hj * hj;
      hat_sq_ += ej * ej;
      hat_dot_h_ += ej * hj;
      sum_h_[j] += hj;
    }
    live_.clear();
    for (int l = 0; l < d; ++l)
      if (zs[l] > 0) {
        live_.push_back(l);
        ++latent_count_[l];
        sum_z_[l] += zs[l];
        sum_zz_[l] += static_cast<double>(zs[l]) * zs[l];
      }
    active_ += static_cast<double>(live_.size());
    for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
      const int i = x.index[e];
      const double xi = x.value[e];
      if (xi == 0) continue;
      ++feature_count_[i];
      sum_x_[i] += xi;
      sum_xx_[i] += xi * xi;
      const std::size_t row = static_cast<std::size_t>(i) * d;
      bool own_fires = false;
      bool carried = false;
      for (int l : live_) {
        ++coactive_[row + l];
        sum_xz_[row + l] += xi * zs[l];
        if (l == latent_of_[i])
          own_fires = true;
        else if (cosine_[row + l] >= absorption_cosine)
          carried = true;
      }
      if (represented_[i] && !own_fires && carried) ++absorbed_count_[i];
    }
  }
  samples_ += B;
}

sae_metrics sae_scorer::finish() const {
  const int n = n_, d = d_;
  const double N = static_cast<double>(samples_);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  sae_metrics r;
  r.feature_latent.assign(n, -1);
  r.feature_cosine.assign(n, nan);
  r.feature_max_cosine.assign(n, nan);
  r.feature_absorption.assign(n, nan);
  r.feature_detectors.assign(n, 0);
  r.latent_feature.assign(d, -1);
  r.latent_precision.assign(d, nan);
  r.latent_recall.assign(d, nan);
  r.latent_frequency.assign(d, 0);
  for (int l = 0; l < d; ++l) {
    r.latent_frequency[l] = N > 0 ? latent_count_[l] / N : 0;
    r.dead += latent_count_[l] == 0 ? 1 : 0;
  }
  // |corr(z_l, x_i)| over the represented features, for the MCC's own assignment.
  std::vector<int> rep;
  for (int i = 0; i < n; ++i)
    if (represented_[i]) rep.push_back(i);
  std::vector<double> corr(rep.size() * static_cast<std::size_t>(d), 0);
  for (std::size_t q = 0; q < rep.size(); ++q) {
    const int i = rep[q];
    const double vx = N * sum_xx_[i] - sum_x_[i] * sum_x_[i];
    for (int l = 0; l < d; ++l) {
      const double vz = N * sum_zz_[l] - sum_z_[l] * sum_z_[l];
      const double cov = N * sum_xz_[static_cast<std::size_t>(i) * d + l] - sum_x_[i] * sum_z_[l];
      corr[q * d + l] = vx > 0 && vz > 0 ? std::abs(cov) / std::sqrt(vx * vz) : 0;
    }
  }
  const std::vector<int> b = max_assignment(corr, static_cast<int>(rep.size()), d);
  r.represented = static_cast<int>(rep.size());
  double precision = 0, recall = 0;
  int assigned = 0;
  for (std::size_t q = 0; q < rep.size(); ++q) {
    const int i = rep[q];
    const double* c = cosine_.data() + static_cast<std::size_t>(i) * d;
    double best = -1;
    for (int l = 0; l < d; ++l) best = std::max(best, c[l]);
    r.feature_max_cosine[i] = best;
    r.mmcs += best;
    const int l = latent_of_[i];
    r.feature_latent[i] = l;
    r.feature_cosine[i] = l >= 0 ? c[l] : 0;
    r.matched_cosine += r.feature_cosine[i];
    r.recovered += r.feature_cosine[i] >= recovered_cosine ? 1 : 0;
    if (b[q] >= 0) r.mcc += corr[q * d + b[q]];
    const double count = static_cast<double>(feature_count_[i]);
    r.feature_absorption[i] = count > 0 ? absorbed_count_[i] / count : 0;
    r.absorption += r.feature_absorption[i];
    r.absorbed += r.feature_absorption[i] >= absorbed_share ? 1 : 0;
    for (int k = 0; k < d; ++k) {
      const double co = static_cast<double>(coactive_[static_cast<std::size_t>(i) * d + k]);
      if (latent_count_[k] > 0 && count > 0 && co / latent_count_[k] >= detector_precision &&
          co / count >= split_share)
        ++r.feature_detectors[i];
    }
    r.split += r.feature_detectors[i] >= 2 ? 1 : 0;
    if (l >= 0) {
      r.latent_feature[l] = i;
      const double co = static_cast<double>(coactive_[static_cast<std::size_t>(i) * d + l]);
      r.latent_precision[l] = latent_count_[l] > 0 ? co / latent_count_[l] : 0;
      r.latent_recall[l] = count > 0 ? co / count : 0;
      precision += r.latent_precision[l];
      recall += r.latent_recall[l];
      ++assigned;
    }
  }
  if (!rep.empty()) {
    const double R = static_cast<double>(rep.size());
    r.mmcs /= R;
    r.matched_cosine /= R;
    r.mcc /= R;
    r.absorption /= R;
  }
  r.precision = assigned ? precision / assigned : 0;
  r.recall = assigned ? recall / assigned : 0;
  r.l0 = N > 0 ? active_ / N : 0;
  r.mse = N > 0 ? err_sq_ / (N * m_) : 0;
  double centred = h_sq_;
  for (double s : sum_h_) centred -= s * s / N;
  r.explained_variance = centred > 0 ? 1 - err_sq_ / centred : 0;
  r.reconstruction_bias = hat_dot_h_ != 0 ? hat_sq_ / hat_dot_h_ : 0;
  return r;
}

}  // namespace tms
