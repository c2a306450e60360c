// The phase-diagram theory of E5 (n = 2, m = 1) and E6 (n = 3, m = 2): the closed-form candidate losses
// against Monte Carlo estimates from the engine's own generator and model, the argmin against the analytic
// boundaries and the paper's table of regions, and the classifier and cell reducer on hand-made weights.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/analysis_phase.hpp"
#include "core/data_sparse.hpp"
#include "core/errors.hpp"
#include "core/model.hpp"

namespace tms {
namespace {

constexpr phase_problem problems[] = {phase_problem::n2_m1, phase_problem::n3_m2};

std::vector<float> phase_importance(phase_problem problem, double r) {
  std::vector<float> I(phase_features(problem), 1.0f);
  I.back() = static_cast<float>(r);
  return I;
}

// Mean and standard error of the paper-normalised loss (training loss x n) of the candidate's weights over
// `steps` batches of the generator.
struct estimate {
  double mean = 0, se = 0;
};
estimate monte_carlo_loss(phase_problem problem, phase_candidate c, double p, double r, std::uint64_t seed) {
  const int n = phase_features(problem), m = phase_hidden(problem), B = 4096, steps = 60;
  const phase_weights w = phase_candidate_weights(problem, c, p);
  std::vector<float> params = w.W;
  params.insert(params.end(), w.b.begin(), w.b.end());
  const std::vector<float> I = phase_importance(problem, r);
  model_workspace<float> ws;
  ws.reserve(B, n, m);
  double sum = 0, sum_sq = 0;
  for (int t = 0; t < steps; ++t) {
    sample_sparse_batch(ws.x, seed, t, p);
    model_forward(model_kind::relu_output, params.data(), n, m, ws);
    const double l = n * weighted_mse_forward(ws.r.data(), ws.x_hat.data(), ws.x, I.data(), n);
    sum += l;
    sum_sq += l * l;
  }
  const double mean = sum / steps;
  return {mean, std::sqrt(std::max(sum_sq / steps - mean * mean, 0.0) / steps)};
}

TEST(AnalysisPhase, CandidateLossesMatchMonteCarlo) {
  std::uint64_t seed = 100;
  for (phase_problem problem : problems)
    for (phase_candidate c : phase_candidates(problem))
      for (double p : {1.0, 0.6, 0.25, 0.1})
        for (double r : {0.3, 2.5}) {
          const double theory = phase_candidate_loss(problem, c, p, r);
          const estimate mc = monte_carlo_loss(problem, c, p, r, ++seed);
          // Values on the generator's 24-bit grid bias the moments by ~1e-7; far below the statistical error.
          EXPECT_NEAR(mc.mean, theory, 5 * mc.se + 1e-6)
              << "n = " << phase_features(problem) << ", " << phase_candidate_name(c) << ", p = " << p
              << ", r = " << r << " (se " << mc.se << ")";
        }
}

TEST(AnalysisPhase, CandidateLossesAreThePapersFormulas) {
  const double p = 0.3, r = 1.7, V = p / 3 - p * p / 4;
  using c = phase_candidate;
  EXPECT_DOUBLE_EQ(phase_candidate_loss(phase_problem::n2_m1, c::extra_ignored, p, r), r * V);
  EXPECT_DOUBLE_EQ(phase_candidate_loss(phase_problem::n2_m1, c::extra_dedicated, p, r), V);
  EXPECT_DOUBLE_EQ(phase_candidate_loss(phase_problem::n2_m1, c::extra_antipodal, p, r), (1 + r) * p * p / 6);
  EXPECT_DOUBLE_EQ(phase_candidate_loss(phase_problem::n3_m2, c::others_antipodal, p, r), p * p / 3);
  EXPECT_DOUBLE_EQ(phase_candidate_loss(phase_problem::n3_m2, c::extra_antipodal, p, r), (1 + r) * p * p / 6);
}

TEST(AnalysisPhase, BoundariesAreWhereTheLossesCross) {
  for (double p : {0.02, 0.1, 0.3, 0.5, 0.55}) {
    const double lo = phase_superposition_lower(p), hi = phase_superposition_upper(p);
    for (phase_problem problem : problems)
      EXPECT_NEAR(phase_candidate_loss(problem, phase_candidate::extra_ignored, p, lo),
                  phase_candidate_loss(problem, phase_candidate::extra_antipodal, p, lo), 1e-14);
    EXPECT_NEAR(phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_dedicated, p, hi),
                phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_antipodal, p, hi), 1e-14);
  }
  // The triple point (r = 1, p = 4/7): all three n = 2 candidates cost the same; for n = 3 the line p = 4/7
  // separates the two dedicated candidates at every r.
  const double p = phase_triple_density;
  const double ignored = phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_ignored, p, 1);
  EXPECT_NEAR(ignored, phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_dedicated, p, 1),
              1e-15);
  EXPECT_NEAR(ignored, phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_antipodal, p, 1),
              1e-15);
  EXPECT_NEAR(phase_candidate_loss(phase_problem::n3_m2, phase_candidate::extra_dedicated, p, 3),
              phase_candidate_loss(phase_problem::n3_m2, phase_candidate::others_antipodal, p, 3), 1e-15);
  EXPECT_DOUBLE_EQ(phase_superposition_lower(p), 1);
  EXPECT_DOUBLE_EQ(phase_superposition_upper(p), 1);
  // Past p = 4/5 the antipodal pair never wins.
  EXPECT_EQ(phase_superposition_lower(0.9), std::numeric_limits<double>::infinity());
  EXPECT_EQ(phase_superposition_upper(0.9), 0);
}

TEST(AnalysisPhase, ArgminMatchesTheAnalyticBoundariesOnAGrid) {
  int checked = 0;
  for (phase_problem problem : problems)
    for (int a = 0; a <= 60; ++a)
      for (int k = 0; k <= 80; ++k) {
        const double p = std::pow(10.0, -2.5 + 2.5 * a / 60);  // 0.003 .. 1
        const double r = std::pow(10.0, -2.0 + 4.0 * k / 80);  // 0.01 .. 100
        // Skip near-ties, where the tie-break decides.
        double best = 1e300, second = 1e300;
        for (phase_candidate c : phase_candidates(problem)) {
          const double l = phase_candidate_loss(problem, c, p, r);
          if (l < best) {
            second = best;
            best = l;
          } else if (l < second) {
            second = l;
          }
        }
        if (second - best < 1e-9 * second) continue;
        const phase_prediction pred = phase_predict(problem, p, r);
        EXPECT_EQ(pred.phase, phase_from_boundaries(problem, p, r)) << "p = " << p << ", r = " << r;
        EXPECT_DOUBLE_EQ(pred.loss, best);
        if (problem == phase_problem::n3_m2 && r > 1) {  // E6: the horizontal line p = 4/7
          EXPECT_EQ(pred.candidate, p < phase_triple_density ? phase_candidate::others_antipodal
                                                             : phase_candidate::extra_dedicated);
        }
        ++checked;
      }
  EXPECT_GT(checked, 9000);
}

TEST(AnalysisPhase, ReproducesThePapersTableOfRegions) {
  // E5 "Sample of the theoretical regions": rows p = 1 - S, columns r.
  using pc = phase_class;
  const pc N = pc::not_learned, D = pc::dedicated, S = pc::superposition;
  const double rs[] = {0.1, 0.3, 0.9, 1.1, 3, 10};
  const struct {
    double p;
    pc row[6];
  } table[] = {
      {1.0, {N, N, N, D, D, D}},  {0.7, {N, N, N, D, D, D}},  {0.5, {N, N, S, S, D, D}},
      {0.3, {N, S, S, S, S, D}},  {0.2, {N, S, S, S, S, D}},  {0.15, {S, S, S, S, S, S}},
      {0.05, {S, S, S, S, S, S}}, {0.01, {S, S, S, S, S, S}},
  };
  for (const auto& t : table)
    for (int k = 0; k < 6; ++k)
      EXPECT_EQ(phase_predict(phase_problem::n2_m1, t.p, rs[k]).phase, t.row[k])
          << "p = " << t.p << ", r = " << rs[k];
  // E6: below r = 1 the n = 3 diagram has the n = 2 lower boundary; above it, always a dedicated dimension.
  EXPECT_EQ(phase_predict(phase_problem::n3_m2, 0.3, 0.3).phase, S);
  EXPECT_EQ(phase_predict(phase_problem::n3_m2, 0.3, 0.1).phase, N);
  EXPECT_EQ(phase_predict(phase_problem::n3_m2, 0.01, 10).phase, D);
  EXPECT_EQ(phase_predict(phase_problem::n3_m2, 0.01, 10).candidate, phase_candidate::others_antipodal);
  EXPECT_EQ(phase_predict(phase_problem::n3_m2, 0.9, 10).candidate, phase_candidate::extra_dedicated);
}

TEST(AnalysisPhase, BadInputThrows) {
  EXPECT_THROW(phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_ignored, 0, 1), usage_error);
  EXPECT_THROW(phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_ignored, 1.5, 1),
               usage_error);
  EXPECT_THROW(phase_candidate_loss(phase_problem::n2_m1, phase_candidate::extra_ignored, 0.5, 0),
               usage_error);
  EXPECT_THROW(phase_predict(phase_problem::n3_m2, 0.5, std::nan("")), usage_error);
  EXPECT_THROW(phase_candidate_loss(phase_problem::n2_m1, phase_candidate::others_antipodal, 0.5, 1),
               usage_error);
  EXPECT_THROW(phase_candidate_weights(phase_problem::n2_m1, phase_candidate::others_antipodal, 0.5),
               usage_error);
}

// ---- the classifier of trained weights ----

phase_class classify(const std::vector<float>& W, const std::vector<float>& b, int m) {
  return phase_classify(W.data(), b.data(), static_cast<int>(b.size()), m);
}

TEST(AnalysisPhase, ClassifierAgreesWithEveryCandidate) {
  for (phase_problem problem : problems)
    for (phase_candidate c : phase_candidates(problem)) {
      const phase_weights w = phase_candidate_weights(problem, c, 0.2);
      EXPECT_EQ(classify(w.W, w.b, phase_hidden(problem)), phase_of_candidate(c)) << phase_candidate_name(c);
    }
}

TEST(AnalysisPhase, ClassifierOnTrainedLookingWeights) {
  using pc = phase_class;
  // n = 2, m = 1. Antipodal with shrunken norms and a small negative bias (weight decay, noise filtering).
  EXPECT_EQ(classify({0.97f, -0.93f}, {-0.02f, -0.03f}, 1), pc::superposition);
  // The extra feature alone in the dimension; feature 0 left with a small weight and its mean as bias.
  EXPECT_EQ(classify({0.2f, 1.02f}, {0.1f, -0.01f}, 1), pc::dedicated);
  // The extra feature small: not learned, whatever the other does.
  EXPECT_EQ(classify({1.0f, 0.3f}, {0.0f, 0.1f}, 1), pc::not_learned);
  // A unit weight that can never fire: ReLU(x + b) = 0 on [0, 1] for b = -1.2.
  EXPECT_EQ(classify({1.0f, -1.0f}, {0.0f, -1.2f}, 1), pc::not_learned);
  // McGrath's confused phase (E25): both at 1/sqrt(2), same sign.
  EXPECT_EQ(classify({0.71f, 0.71f}, {0.0f, 0.0f}, 1), pc::other);

  // n = 3, m = 2. The triangle W ⊥ [1,1,1]: cos -1/2 with both others.
  const float h = std::sqrt(3.0f) / 2;
  EXPECT_EQ(classify({1, 0, -0.5f, h, -0.5f, -h}, {0, 0, 0}, 2), pc::superposition);
  // W ⊥ [1,1,0] with noise: others antipodal on x, extra on y (cos ~0.05).
  EXPECT_EQ(classify({0.98f, 0.03f, -1.01f, 0.02f, 0.05f, 0.99f}, {-0.01f, -0.01f, 0.0f}, 2), pc::dedicated);
  // W ⊥ [0,1,1]: extra antipodal with feature 1, feature 0 dedicated.
  EXPECT_EQ(classify({0.02f, 1.0f, 0.99f, 0.01f, -0.97f, 0.04f}, {0, 0, 0}, 2), pc::superposition);
  // Extra at 60 degrees from feature 0 (cos +1/2): neither orthogonal nor antipodal.
  EXPECT_EQ(classify({1, 0, 0, 0, 0.5f, h}, {0, 0.1f, 0}, 2), pc::other);
  // Extra at 110 degrees (cos -0.34): between the thresholds, so other; a looser antipodal threshold admits
  // it.
  const float c110 = std::cos(110 * static_cast<float>(M_PI) / 180),
              s110 = std::sin(110 * static_cast<float>(M_PI) / 180);
  const std::vector<float> W = {1, 0, 0, 0, c110, s110}, b = {0, 0.1f, 0};
  EXPECT_EQ(classify(W, b, 2), pc::other);
  EXPECT_EQ(phase_classify(W.data(), b.data(), 3, 2, {.antipodal = 0.3}), pc::superposition);
  EXPECT_THROW(phase_classify(W.data(), b.data(), 1, 2), usage_error);
}

// ---- the per-cell reducer ----

TEST(AnalysisPhase, ReducerDropsTheWorstAndVotes) {
  using pc = phase_class;
  phase_cell cell = phase_reduce_cell({0.1, 0.2, 5.0, 0.15},
                                      {pc::superposition, pc::superposition, pc::not_learned, pc::dedicated});
  EXPECT_EQ(cell.dropped, 2);
  EXPECT_EQ(cell.phase, pc::superposition);
  EXPECT_EQ(cell.votes, 2);
  EXPECT_EQ(cell.kept, 3);
  EXPECT_NEAR(cell.mean_loss, (0.1 + 0.2 + 0.15) / 3, 1e-15);

  // Dropping the worst turns a 2-1 majority into a tie, which goes to the class of the lowest kept loss.
  cell = phase_reduce_cell({1.0, 2.0, 9.0}, {pc::dedicated, pc::superposition, pc::superposition});
  EXPECT_EQ(cell.dropped, 2);
  EXPECT_EQ(cell.phase, pc::dedicated);
  EXPECT_EQ(cell.votes, 1);
  EXPECT_NEAR(cell.mean_loss, 1.5, 1e-15);

  // Equal maxima: the first is dropped.
  cell = phase_reduce_cell({3.0, 1.0, 3.0}, {pc::other, pc::not_learned, pc::not_learned});
  EXPECT_EQ(cell.dropped, 0);
  EXPECT_EQ(cell.phase, pc::not_learned);
  EXPECT_EQ(cell.votes, 2);

  EXPECT_THROW(phase_reduce_cell({1.0}, {pc::other}), usage_error);
  EXPECT_THROW(phase_reduce_cell({1.0, 2.0}, {pc::other}), usage_error);
  EXPECT_THROW(phase_reduce_cell({1.0, std::nan("")}, {pc::other, pc::other}), usage_error);
}

}  // namespace
}  // namespace tms
