// An SAE scored against the toy model's known features (the ground truth: each feature's direction in the
// hidden space, the embedding row W_i, and which features are active in each sample). The one home of
// every SAE metric's definition and threshold; docs/experiments/saes.md quotes them.
//
// Over the represented features F (||W_i|| > represented_norm, metrics.hpp), with f_i = W_i / ||W_i||, the
// decoder directions u_l = W_dec_l / ||W_dec_l|| and C_il = f_i . u_l:
//  * mmcs: the mean over F of max_l C_il (the mean max cosine similarity);
//  * matched_cosine: the mean over F of C_i,a(i), a the one-to-one assignment of features to latents
//    maximising sum_i C_i,a(i) (Hungarian); a feature left unassigned (fewer latents than features) adds 0;
//  * recovered: features whose matched cosine is at least recovered_cosine;
//  * mcc: the mean over F of |corr(z_b(i), x_i)| over the evaluation samples, b the one-to-one assignment
//    maximising the summed absolute correlations (the mean correlation coefficient of ICA);
//  * l0: active latents (z > 0) per sample; dead: latents active on no evaluation sample;
//  * mse: the training reconstruction error, mean over samples and the m inputs of (h_hat - h)^2;
//    explained_variance: 1 - sum ||h_hat - h||^2 / sum ||h - mean h||^2;
//  * reconstruction_bias: gamma = E ||h_hat||^2 / E [h_hat . h] (Rajamanoharan et al.'s relative
//    reconstruction bias; below 1 the SAE shrinks its reconstructions);
//  * per latent l assigned to feature i = a^-1(l): precision P(x_i != 0 | z_l > 0) and recall
//    P(z_l > 0 | x_i != 0), as a detector of its feature; their means over the assigned latents;
//  * absorption: for a represented feature i, the share of its active samples on which its assigned latent
//    is silent while another active latent's direction carries it (C_il' >= absorption_cosine); a feature is
//    absorbed when that share is at least absorbed_share;
//  * splitting: feature i is split when two or more latents detect it (precision for i at least
//    detector_precision) and each fires on at least split_share of i's active samples.
#pragma once

#include <cstdint>
#include <vector>

#include "core/data_sparse.hpp"

namespace tms {

inline constexpr double recovered_cosine = 0.9;
inline constexpr double absorption_cosine = 0.5;
inline constexpr double absorbed_share = 0.1;
inline constexpr double detector_precision = 0.9;
inline constexpr double split_share = 0.05;

// The one-to-one assignment maximising sum_i score[i][a(i)] over a rows x cols matrix (row-major): a [rows],
// each row's column or -1 when rows > cols leaves it out. O(min^2 max) (the Hungarian method with
// potentials); ties broken the same way on every run.
std::vector<int> max_assignment(const std::vector<double>& score, int rows, int cols);

struct sae_metrics {
  int represented = 0;
  double mmcs = 0, matched_cosine = 0, mcc = 0;
  int recovered = 0;
  double l0 = 0;
  int dead = 0;
  double mse = 0, explained_variance = 0, reconstruction_bias = 0;
  double precision = 0, recall = 0;  // means over assigned latents
  int absorbed = 0, split = 0;
  double absorption = 0;  // mean absorption share over the represented features
  // Per feature [n] (NaN / -1 for a feature not represented):
  std::vector<int> feature_latent;         // a(i), -1 unassigned
  std::vector<double> feature_cosine;      // C_i,a(i)
  std::vector<double> feature_max_cosine;  // max_l C_il
  std::vector<double> feature_absorption;  // the absorption share
  std::vector<int> feature_detectors;      // latents detecting it (splitting)
  // Per latent [d]:
  std::vector<int> latent_feature;       // a^-1(l), -1 unassigned
  std::vector<double> latent_precision;  // NaN unassigned
  std::vector<double> latent_recall;
  std::vector<double> latent_frequency;  // share of samples it fires on
};

// Accumulates an SAE's evaluation batches, then scores it. W [n][m]: the toy model's embedding rows;
// W_dec [d][m]: the SAE's decoder rows.
class sae_scorer {
 public:
  sae_scorer(const float* W, int n, int m, const float* W_dec, int d);
  // One batch: the inputs x (compressed rows, B samples), the activations h [B][m], the latents z [B][d]
  // and the reconstruction h_hat [B][m].
  void add(const sparse_batch<float>& x, const float* h, const float* z, const float* h_hat, int B);
  sae_metrics finish() const;

 private:
  int n_, m_, d_;
  std::vector<unsigned char> represented_;  // [n]
  std::vector<double> cosine_;              // [n][d]
  std::vector<int> latent_of_;              // [n] a(i)
  std::int64_t samples_ = 0;
  std::vector<std::int64_t> feature_count_, latent_count_, coactive_, absorbed_count_;  // [n] [d] [n][d] [n]
  std::vector<double> sum_x_, sum_xx_, sum_z_, sum_zz_, sum_xz_;  // [n] [n] [d] [d] [n][d]
  double err_sq_ = 0, h_sq_ = 0, hat_sq_ = 0, hat_dot_h_ = 0, active_ = 0;
  std::vector<double> sum_h_;  // [m]
  std::vector<int> live_;      // scratch: the active latents of a sample
};

}  // namespace tms
