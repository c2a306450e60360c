#include "core/analysis_phase.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "core/errors.hpp"
#include "core/metrics.hpp"

namespace tms {
namespace {

void check_density(double p) {
  if (!(p > 0 && p <= 1))
    throw usage_error("density: " + std::to_string(p) + " is outside (0, 1]; the density is 1 - S");
}

void check_importance(double r) {
  if (!(r > 0 && std::isfinite(r)))
    throw usage_error("relative importance: " + std::to_string(r) + " must be positive and finite");
}

void check_candidate(phase_problem problem, phase_candidate c) {
  if (problem == phase_problem::n2_m1 && c == phase_candidate::others_antipodal)
    throw usage_error("candidate: others_antipodal needs n = 3; the n = 2, m = 1 problem has no other pair");
}

}  // namespace

std::string_view phase_class_name(phase_class c) {
  switch (c) {
    case phase_class::not_learned:
      return "not_learned";
    case phase_class::dedicated:
      return "dedicated";
    case phase_class::superposition:
      return "superposition";
    case phase_class::other:
      return "other";
  }
  return "other";
}

std::string_view phase_candidate_name(phase_candidate c) {
  switch (c) {
    case phase_candidate::extra_ignored:
      return "extra_ignored";
    case phase_candidate::extra_dedicated:
      return "extra_dedicated";
    case phase_candidate::others_antipodal:
      return "others_antipodal";
    case phase_candidate::extra_antipodal:
      return "extra_antipodal";
  }
  return "extra_ignored";
}

int phase_features(phase_problem problem) {
  return problem == phase_problem::n2_m1 ? 2 : 3;
}
int phase_hidden(phase_problem problem) {
  return problem == phase_problem::n2_m1 ? 1 : 2;
}

std::vector<phase_candidate> phase_candidates(phase_problem problem) {
  if (problem == phase_problem::n2_m1)
    return {phase_candidate::extra_ignored, phase_candidate::extra_dedicated,
            phase_candidate::extra_antipodal};
  return {phase_candidate::extra_ignored, phase_candidate::extra_dedicated, phase_candidate::others_antipodal,
          phase_candidate::extra_antipodal};
}

phase_class phase_of_candidate(phase_candidate c) {
  switch (c) {
    case phase_candidate::extra_ignored:
      return phase_class::not_learned;
    case phase_candidate::extra_dedicated:
    case phase_candidate::others_antipodal:
      return phase_class::dedicated;
    case phase_candidate::extra_antipodal:
      return phase_class::superposition;
  }
  return phase_class::other;
}

double phase_candidate_loss(phase_problem problem, phase_candidate c, double p, double r) {
  check_density(p);
  check_importance(r);
  check_candidate(problem, c);
  const double variance = p / 3 - p * p / 4;  // a dropped feature, biased to its mean p/2
  switch (c) {
    case phase_candidate::extra_ignored:
      return r * variance;
    case phase_candidate::extra_dedicated:
      return variance;
    case phase_candidate::others_antipodal:
      return 2 * p * p / 6;
    case phase_candidate::extra_antipodal:
      return (1 + r) * p * p / 6;
  }
  return 0;
}

phase_weights phase_candidate_weights(phase_problem problem, phase_candidate c, double p) {
  check_density(p);
  check_candidate(problem, c);
  const float mean = static_cast<float>(p / 2);
  if (problem == phase_problem::n2_m1) {
    switch (c) {
      case phase_candidate::extra_ignored:
        return {{1, 0}, {0, mean}};
      case phase_candidate::extra_dedicated:
        return {{0, 1}, {mean, 0}};
      default:
        return {{1, -1}, {0, 0}};
    }
  }
  switch (c) {  // rows W_0, W_1, W_2 in R^2
    case phase_candidate::extra_ignored:
      return {{1, 0, 0, 1, 0, 0}, {0, 0, mean}};
    case phase_candidate::extra_dedicated:
      return {{0, 0, 1, 0, 0, 1}, {mean, 0, 0}};
    case phase_candidate::others_antipodal:
      return {{1, 0, -1, 0, 0, 1}, {0, 0, 0}};
    default:
      return {{0, 1, 1, 0, -1, 0}, {0, 0, 0}};
  }
}

phase_prediction phase_predict(phase_problem problem, double p, double r) {
  phase_prediction best;
  best.loss = std::numeric_limits<double>::infinity();
  for (phase_candidate c : phase_candidates(problem)) {
    const double loss = phase_candidate_loss(problem, c, p, r);
    if (loss < best.loss) best = {c, phase_of_candidate(c), loss};
  }
  return best;
}

double phase_superposition_lower(double p) {
  check_density(p);
  return p < phase_no_superposition_density ? 2 * p / (4 - 5 * p) : std::numeric_limits<double>::infinity();
}

double phase_superposition_upper(double p) {
  check_density(p);
  return p < phase_no_superposition_density ? (4 - 5 * p) / (2 * p) : 0;
}

phase_class phase_from_boundaries(phase_problem problem, double p, double r) {
  check_importance(r);
  const double lower = phase_superposition_lower(p);
  if (problem == phase_problem::n2_m1) {
    if (lower < r && r < phase_superposition_upper(p)) return phase_class::superposition;
    return r <= 1 ? phase_class::not_learned : phase_class::dedicated;
  }
  if (r < 1) return r > lower ? phase_class::superposition : phase_class::not_learned;
  return r > 1 ? phase_class::dedicated : phase_class::not_learned;  // r = 1: the tie-break's extra_ignored
}

phase_class phase_classify(const float* W, const float* b, int n, int m, const phase_thresholds& t) {
  if (n < 2)
    throw usage_error("features: " + std::to_string(n) + " is too few; the extra feature needs n >= 2");
  if (m < 1) throw usage_error("hidden: " + std::to_string(m) + " must be at least 1");
  auto learned = [&](int i, double norm) { return norm > t.represented && norm * norm + b[i] > 0; };
  const int e = n - 1;
  const float* We = W + static_cast<std::size_t>(e) * m;
  const double norm_e = std::sqrt(row_dot(We, We, m));
  if (!learned(e, norm_e)) return phase_class::not_learned;
  bool orthogonal = true, antipodal = false;
  for (int j = 0; j < e; ++j) {
    const float* Wj = W + static_cast<std::size_t>(j) * m;
    const double norm_j = std::sqrt(row_dot(Wj, Wj, m));
    if (!learned(j, norm_j)) continue;  // a dropped feature takes no room from the extra one
    const double cos = row_dot(We, Wj, m) / (norm_e * norm_j);
    if (cos <= -t.antipodal) antipodal = true;
    if (std::abs(cos) > t.orthogonal) orthogonal = false;
  }
  if (antipodal) return phase_class::superposition;
  return orthogonal ? phase_class::dedicated : phase_class::other;
}

phase_cell phase_reduce_cell(const std::vector<double>& losses, const std::vector<phase_class>& classes) {
  const int K = static_cast<int>(losses.size());
  if (classes.size() != losses.size())
    throw usage_error("classes: " + std::to_string(classes.size()) + " entries for " + std::to_string(K) +
                      " losses; one class per model");
  if (K < 2)
    throw usage_error("models: " + std::to_string(K) +
                      " per cell; the protocol drops the highest-loss model, so at least 2 are needed");
  phase_cell out;
  out.dropped = 0;
  for (int k = 0; k < K; ++k) {
    if (!std::isfinite(losses[k]))
      throw usage_error("loss: model " + std::to_string(k) + " has a loss that is not finite");
    if (losses[k] > losses[out.dropped]) out.dropped = k;
  }
  constexpr int classes_count = 4;
  int votes[classes_count] = {};
  double best_loss[classes_count];
  for (double& v : best_loss) v = std::numeric_limits<double>::infinity();
  double sum = 0;
  for (int k = 0; k < K; ++k) {
    if (k == out.dropped) continue;
    const int c = static_cast<int>(classes[k]);
    ++votes[c];
    if (losses[k] < best_loss[c]) best_loss[c] = losses[k];
    sum += losses[k];
  }
  out.kept = K - 1;
  out.mean_loss = sum / out.kept;
  int winner = -1;
  for (int c = 0; c < classes_count; ++c) {
    if (votes[c] == 0) continue;
    if (winner < 0 || votes[c] > votes[winner] ||
        (votes[c] == votes[winner] && best_loss[c] < best_loss[winner]))
      winner = c;
  }
  out.phase = static_cast<phase_class>(winner);
  out.votes = votes[winner];
  return out;
}

}  // namespace tms
