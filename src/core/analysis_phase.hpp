// The phase diagrams of the ReLU output model (paper E5: n = 2, m = 1; E6: n = 3, m = 2): the closed-form
// "toy model of the toy model", a classifier for trained weights, and the paper's per-cell reduction.
//
// Letters: p = 1 - S the feature density, r = I_extra / I_other the relative importance of the extra feature,
// which is always the last feature (index n - 1); the other features have importance 1.
//
// Normalisation: every loss here is the paper's (section "The Loss"): the expected squared error of one
// sample, summed over the features. The engine's training loss is the mean over features, i.e. this divided
// by n (loss_weighted_mse.hpp). Bias sign: the engine's +b, x' = ReLU(W^T W x + b) (the paper's phase-change
// section writes -b; §7 erratum 2).
#pragma once

#include <string_view>
#include <vector>

#include "core/metrics.hpp"

namespace tms {

enum class phase_problem {
  n2_m1,  // E5: two features in one dimension
  n3_m2,  // E6: three features in two dimensions
};

// The hand-picked candidate solutions (paper E5/E6, losses from the theory notebook [W]). Each has
// ||W_i|| in {0, 1} and a bias of 0 for a represented feature, E[x_i] = p/2 for a dropped one.
enum class phase_candidate {
  extra_ignored,     // n=2: W = [1, 0];  n=3: W ⊥ [0,0,1]. Loss r (p/3 - p^2/4)
  extra_dedicated,   // n=2: W = [0, 1];  n=3: W ⊥ [1,0,0], feature 0 dropped. Loss p/3 - p^2/4
  others_antipodal,  // n=3 only: W ⊥ [1,1,0], features 0, 1 antipodal, extra dedicated. Loss p^2/3
  extra_antipodal,  // n=2: W = [1, -1]; n=3: W ⊥ [0,1,1], extra antipodal with feature 1. Loss (1 + r) p^2/6
};

// The fate of the extra feature, as the phase diagrams colour it. `other` only comes from the classifier of
// trained weights (a configuration none of the three describes, e.g. McGrath's "confused" phase, E25).
enum class phase_class { not_learned, dedicated, superposition, other };

std::string_view phase_class_name(phase_class c);
std::string_view phase_candidate_name(phase_candidate c);
int phase_features(phase_problem problem);  // n: 2 or 3
int phase_hidden(phase_problem problem);    // m: 1 or 2

// The candidates of a problem in a fixed order (the order of the enum); argmin ties go to the earlier one.
std::vector<phase_candidate> phase_candidates(phase_problem problem);

// The class a candidate belongs to: extra_ignored -> not_learned, extra_dedicated and others_antipodal ->
// dedicated, extra_antipodal -> superposition.
phase_class phase_of_candidate(phase_candidate c);

// The expected loss of a candidate (paper sum over features, see above). With V = Var[x] = p/3 - p^2/4:
//   extra_ignored     r V              the dropped extra feature costs its variance around the bias p/2
//   extra_dedicated   V                the same for the dropped feature of importance 1
//   others_antipodal  p^2/3 = 2 p^2/6  an antipodal pair of two importance-1 features (n = 3 only)
//   extra_antipodal   (1 + r) p^2/6    an antipodal pair errs only when both are active (probability p^2),
//                                      by (I_a + I_b) min(x, y)^2, and E[min(x, y)^2] = 1/6 for x, y ~ U[0,1]
// Throws usage_error for p outside (0, 1], r not positive and finite, or others_antipodal with n2_m1.
double phase_candidate_loss(phase_problem problem, phase_candidate c, double density, double r);

// The candidate's weights exactly as the loss above assumes: W [n][m] and b [n], for the engine's +b.
struct phase_weights {
  std::vector<float> W;  // [n][m]
  std::vector<float> b;  // [n]
};
phase_weights phase_candidate_weights(phase_problem problem, phase_candidate c, double density);

struct phase_prediction {
  phase_candidate candidate = phase_candidate::extra_ignored;
  phase_class phase = phase_class::not_learned;
  double loss = 0;  // the candidate's expected loss, the minimum over the candidates
};

// The theoretical phase diagram: the candidate with the lowest expected loss.
phase_prediction phase_predict(phase_problem problem, double density, double r);

// The analytic boundaries (paper E5, derived from the losses above by equating pairs):
//   not learned <-> superposition at r = 2p / (4 - 5p)   (both problems; for n = 3 the boundary for r < 1)
//   superposition <-> dedicated   at r = (4 - 5p) / (2p) (n = 2)
//   not learned <-> dedicated     at r = 1 (n = 2 for p >= 4/7; n = 3 for every p)
//   n = 3, r > 1: W ⊥ [1,1,0] beats W ⊥ [1,0,0] iff p < 4/7, both dedicated.
// For p >= 4/5 the antipodal pair loses to dropping a feature at every r: the lower bound is +inf and the
// upper 0. The n = 2 superposition interval (lower, upper) is empty for p >= 4/7, the triple point.
inline constexpr double phase_triple_density = 4.0 / 7;  // p of the triple point, at r = 1
double phase_superposition_lower(double density);        // 2p / (4 - 5p)
double phase_superposition_upper(double density);        // (4 - 5p) / (2p)
// p from which no r gives superposition (the 4/5 above): the lower bound is +inf.
inline constexpr double phase_no_superposition_density = 4.0 / 5;

// The phase read off the analytic boundaries alone, without evaluating the losses:
//   n = 2: superposition iff lower < r < upper; otherwise not learned for r <= 1, dedicated for r > 1.
//   n = 3: r < 1: superposition iff r > lower, else not learned; r > 1: dedicated.
// Exactly on a boundary (a tie between candidates) it may differ from phase_predict's tie-break.
phase_class phase_from_boundaries(phase_problem problem, double density, double r);

// Classifying a trained model of E5/E6 (any n >= 2; the extra feature is the last). The paper does not say
// how its empirical diagram was classified (E5, "How to classify an empirical point"); the rule here:
//  * feature i is *learned* when ||W_i|| > `represented` (metrics.hpp: ~1 if represented, ~0 if not) and its
//    1-sparse output can fire, ||W_i||^2 + b_i > 0 (else ReLU(||W_i||^2 x + b_i) = 0 on [0, 1], §4.2);
//  * not_learned:   the extra feature is not learned;
//  * superposition: it points against a learned other feature, cos(W_e, W_j) <= -antipodal
//                   (an antipodal pair is cos -1; the n = 3 triangle, W ⊥ [1,1,1], is cos -1/2);
//  * dedicated:     every learned other feature is orthogonal to it, |cos(W_e, W_j)| <= orthogonal
//                   (this includes W = [0, 1] of n = 2, where feature 0 is not learned at all);
//  * other:         anything else, e.g. a positive overlap (McGrath's confused phase W_0 ~ W_1, E25).
struct phase_thresholds {
  double represented = represented_norm;
  double orthogonal = 0.3;
  double antipodal = 0.4;
};
phase_class phase_classify(const float* W, const float* b, int n, int m, const phase_thresholds& t = {});

// The paper's protocol for one grid cell (§2.2: "10 models per grid point. The model with the highest loss is
// discarded and the rest are averaged"): drop the single highest-loss model (the first of equal maxima), then
// the majority class of the rest and their mean loss. A tie in the vote goes to the class of the lowest-loss
// kept model among the tied classes. Throws usage_error for fewer than 2 models, sizes that differ, or a loss
// that is not finite.
struct phase_cell {
  phase_class phase = phase_class::other;
  double mean_loss = 0;  // over the kept models, in whatever normalisation the losses were given
  int votes = 0;         // kept models of the majority class
  int kept = 0;          // K - 1
  int dropped = -1;      // index of the discarded model
};
phase_cell phase_reduce_cell(const std::vector<double>& losses, const std::vector<phase_class>& classes);

}  // namespace tms
